-- User administration happens only through the functions of functions/users.sql: who may call
-- them (the operator's login, never an API role directly), the rules they apply, and that the
-- API's triggers apply the very same rules (one definition, the same messages).
BEGIN;
SELECT plan(31);

INSERT INTO data.stores (id, name, source) VALUES ('UR-1', 'User rules store', 'import');

-- Who may call them -------------------------------------------------------------------------
SELECT ok(has_function_privilege('mangalm_app', 'app.add_user(text, text, text, text, text, boolean)', 'EXECUTE'),
          'the operator''s login may add users');
SELECT ok(has_function_privilege('mangalm_app', 'app.assign_stores(text, text[])', 'EXECUTE'),
          'the operator''s login may assign stores');
SELECT ok(NOT has_function_privilege(r, 'app.add_user(text, text, text, text, text, boolean)', 'EXECUTE'),
          r || ' may not call app.add_user directly')
  FROM unnest(ARRAY['anon', 'sales_rep', 'manager', 'admin', 'analyst', 'authenticator']) r;
SELECT ok(NOT has_function_privilege(r, 'app.set_password(text, text)', 'EXECUTE'),
          r || ' may not call app.set_password directly')
  FROM unnest(ARRAY['anon', 'sales_rep', 'manager', 'admin']) r;
SELECT is(p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, data'], true,
          p.proname || ' is security definer with a fixed search_path')
  FROM pg_proc p WHERE p.pronamespace = 'app'::regnamespace
   AND p.proname IN ('add_user', 'set_user', 'set_password', 'assign_stores', 'unassign_stores', 'user_list')
  ORDER BY p.proname;

-- The rules ------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT app.add_user('x@y', 'long-enough', 'manager')$$, '22023',
                 'x@y is not an email address', 'the email rule: a dot in the domain');
SELECT throws_ok($$SELECT app.add_user('ur@rules.test', repeat('é', 37), 'manager')$$, '22023',
                 'the password must have at most 72 bytes', 'the password rule: at most 72 bytes');
SELECT throws_ok($$SELECT app.add_user('ur@rules.test', 'long-enough', 'owner')$$, '22023',
                 'role must be sales_rep, manager or admin, not owner', 'the role rule');
SELECT lives_ok($$SELECT app.add_user('  UR-Rep@Rules.test ', 'long-enough', 'sales_rep', 'Rep', 'UR Rep')$$,
                'a good account is created');
SELECT is((SELECT email FROM data.users WHERE lower(email) = 'ur-rep@rules.test'), 'UR-Rep@Rules.test',
          'its email is stored trimmed');
SELECT throws_ok($$SELECT app.add_user('ur-rep@rules.test', 'long-enough', 'manager')$$, 'PT409',
                 'a user with the email ur-rep@rules.test already exists', 'an email is taken once, in any case');
SELECT lives_ok($$SELECT app.add_user('ur-mgr@rules.test', 'long-enough', 'manager')$$, 'a manager is created');
SELECT throws_ok($$SELECT app.assign_stores('ur-mgr@rules.test', ARRAY['UR-1'])$$, 'PT422',
                 'ur-mgr@rules.test is a manager; only sales reps are assigned stores (the others see all)',
                 'only reps are assigned stores');
SELECT throws_ok($$SELECT app.assign_stores('ur-rep@rules.test', ARRAY['UR-1', 'UR-404'])$$, 'PT409',
                 'no store with the id UR-404; nothing was assigned', 'an unknown store is refused, all or none');
SELECT is(app.assign_stores('ur-rep@rules.test', ARRAY['UR-1', 'UR-1']), 1, 'a store is assigned once');
SELECT throws_ok($$SELECT app.set_user('nobody@rules.test', 'admin')$$, 'PT404',
                 'no user with the email nobody@rules.test', 'an unknown user is a 404');
SELECT throws_ok($$SELECT app.set_password('aaaaaaaa-0000-4000-8000-00000000dead', 'long-enough')$$, 'PT404',
                 'no user with the id aaaaaaaa-0000-4000-8000-00000000dead', 'by id too');

-- The API's trigger applies the same rule, in the same words.
SET LOCAL role admin;
SELECT set_config('request.jwt.claims', '{"role": "admin"}', true);
SELECT throws_ok($$UPDATE api.users SET role = 'owner' WHERE email = 'UR-Rep@Rules.test'$$, '22023',
                 'role must be sales_rep, manager or admin, not owner', 'PATCH /api/users: the same role rule');
RESET role;

SELECT * FROM finish();
ROLLBACK;
