# Image for the migrate and service containers of docker-compose.yml, built the way a user
# installs mangalm: the dashboard's libraries from npm first, then the wheel (`pip install .`,
# not editable), which carries the SQL, migrations, templates and dashboard files.
FROM node:20-slim AS web
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
COPY dashboard/scripts ./scripts
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
COPY . /src
COPY --from=web /src/dashboard/public/vendor /src/dashboard/public/vendor
RUN pip install --no-cache-dir /src && rm -rf /src
WORKDIR /var/lib/mangalm
ENV PYTHONUNBUFFERED=1
CMD ["mangalm", "--help"]
