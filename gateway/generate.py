"""Deterministic, realistic invoice-line exports (Zoho Books layout) for demos, tests and benchmarks.

The analytics in the database (next-order predictions, segmentation, upselling) are only worth
testing against data whose structure is real *and known*. This module writes such data: a CSV
in the Zoho Books "invoice line" layout (`COLUMNS`), UTF-8, RFC 4180 quoting, one row per line.

Determinism: the output depends only on the arguments (lines, stores, products, seed, start
date). Every random draw comes from `random.Random` instances seeded with strings derived from
the seed (string seeds hash through SHA-512, so they are stable across processes); nothing reads
the clock. Same arguments, byte-identical file.

The model
---------
* Catalogue: Indian FMCG/grocery products from category templates (atta, rice, dal, oil,
  spices, tea, biscuits, namkeen, soaps, ...), fictional brands, MRP, selling price 8-20 % below
  MRP, HSN code and GST rate from {0, 5, 12, 18}. Popularity is Zipf-like over a random ranking
  that favours staples. Category groups (tea + sugar + biscuits, atta + oil + dal, ...) give each
  product a few fixed partner products, so association rules exist at product level.
* Stores: Indian shop names in 5 territories, one sales person per territory. Each store has a
  reorder rhythm (see below), a size (log-normal; scales quantities), a core basket of regular
  products each bought in 75-98 % of its orders with a stable per-store quantity, and occasional
  extras drawn from the Zipf popularity (an extra brings its partners along a third of the time).
* Rhythm model (a renewal process per store; `store_profiles()` exposes it):
  1. rhythm = 7 (weekly, 20 %), 14 (fortnightly, 35 %) or 30 days (monthly, 45 %);
  2. next order = previous actual order date + rhythm + N(0, sd), sd = 10-15 % of the rhythm;
  3. with a per-store probability of 2-8 % an order is skipped (the gap doubles);
  4. no invoices on Sundays or festival days (Sankranti, Holi, 15 Aug, Diwali week 29 Oct -
     4 Nov, 25 Dec): a Sunday order moves to Saturday or Monday, a festival one waits;
  5. ~8 % of stores open late (first order 15-55 % into the timeline), ~8 % churn (last order
     45-85 % into it); store 0 is always a regular, so the stream never runs dry.
* Quantities: per-store base quantity x store size x (rhythm/14)^0.6 (monthly stores buy a
  month's stock) x yearly seasonality (mild peak in the festive season; beverages peak in May,
  ghee and dry fruits before Diwali) x slow growth (+8 % a year) x noise (sd 20 %).
* Exceptions, as in real exports: ~1 % return lines (negative quantity and totals), ~0.5 % free
  goods lines (price 0), ~0.5 % non-product lines (Shipping Charges, Postage, Bank Charges,
  Discount, Adjustment; no Product ID, SKU or HSN), ~0.5 % void invoices (status "Void",
  balance 0). Other invoices are "Closed" or "Paid" (balance 0), "Overdue" or "Sent" (balance =
  total; mostly in the last month of the timeline).
* Money is computed in integer paise. Discount is a percentage (a store's standing trade
  discount, on some lines); Discount Amount = round(quantity x price x Discount / 100);
  Item Total = quantity x price - Discount Amount; Item Tax Amount = round(Item Total x
  Item Tax % / 100); SubTotal = sum of Item Totals; Total = SubTotal + sum of taxes; Balance is
  0 or Total. The invoice fields are repeated on each of its lines.

Size and timeline
-----------------
The file has exactly `lines` data lines: invoices are emitted in (date, invoice number) order
and the last one is cut short (its totals are computed over the lines that were written). The
timeline is sized so that the expected number of lines fills it: span = lines / (expected lines
per day of all stores). The demo set (14,464 lines, 211 stores, 424 products) spans about seven
months. The calendar is capped at about three years (`MAX_SPAN_DAYS`): beyond that the stores
order *more* instead of for longer (core baskets and extras grow, up to a third of the
catalogue), so 1,000,000 lines with the default 211 stores are three years of large invoices
(~70 lines each; ~27 s and ~22 MB peak RSS on one core). Pass more `--stores` for more,
smaller invoices. Only when baskets cannot grow further does the calendar extend past three
years.

Memory is constant in `lines`: rows are produced one invoice at a time and streamed out.
"""
from __future__ import annotations

import bisect
import csv
import heapq
import io
import math
import os
import random
from dataclasses import dataclass
from datetime import date
from typing import Callable, Iterator, TextIO

from .loader import export_fields

# The export's headers, from the one list in functions/ingest.sql (app.ingest_fields()); the
# rows below are written in this order.
COLUMNS = [header for _, _, header in export_fields()]

DEFAULT_SEED = 42
DEFAULT_START_DATE = date(2024, 1, 1)
DEFAULT_STORES = 211
DEFAULT_PRODUCTS = 424
DEMO_LINES = 14464

# Past three years a synthetic history stops looking like one distributor's recent trade,
# so bigger files grow the baskets instead of the calendar.
MAX_SPAN_DAYS = 3 * 365

# Rates of the exceptional lines and invoices (fractions of product lines / invoices).
RETURN_RATE = 0.010
FREE_GOODS_RATE = 0.005
MISC_RATE = 0.005
VOID_RATE = 0.005

ZIPF_EXPONENT = 0.8
# Part of the extras is a uniform "trial purchase", so the long tail of the catalogue is
# actually sold (a catalogue nobody buys from is not a catalogue).
UNIFORM_EXTRAS = 0.25
GROWTH_PER_YEAR = 0.08
# How often a partner joins its product: in a store's core basket, and when bought as an extra.
CORE_PARTNER_PROB = 0.6
EXTRA_PARTNER_PROB = 0.35

RHYTHMS = (("weekly", 7, 0.20), ("fortnightly", 14, 0.35), ("monthly", 30, 0.45))

# (month, day) on which the distributor does not invoice: a few fixed festival days and weeks.
HOLIDAYS = frozenset(
    [(1, 14), (1, 15), (3, 24), (3, 25), (3, 26), (8, 15), (12, 25)]
    + [(10, d) for d in range(29, 32)] + [(11, d) for d in range(1, 5)]
)

# ---------------------------------------------------------------------------------------------
# Catalogue templates. Brands are invented; prices are plausible 2024 MRPs in rupees.
# Category: (name, popularity weight, season class, brands, items)
# Item: (name, HSN, GST %, description, packs), pack: (label, MRP in rupees, usage unit)
# Season class: 0 = mild festive peak, 1 = summer peak, 2 = strong festive peak.
# ---------------------------------------------------------------------------------------------
CATEGORIES = (
    ("Atta & Flour", 1.6, 0, ("Kisan Gold", "Desi Rasoi", "Gharana", "Annadata"), (
        ("Whole Wheat Atta", "1101", 5, "Stone-ground whole wheat flour",
         (("5 kg", 265, "bag"), ("10 kg", 510, "bag"))),
        ("Chakki Fresh Atta", "1101", 5, "Chakki-ground atta, soft rotis",
         (("5 kg", 285, "bag"), ("10 kg", 545, "bag"))),
        ("Multigrain Atta", "1101", 5, "Atta with six grains",
         (("1 kg", 78, "pkt"), ("5 kg", 335, "bag"))),
        ("Maida", "1101", 5, "Refined wheat flour", (("500 g", 32, "pkt"), ("1 kg", 58, "pkt"))),
        ("Besan", "1106", 5, "Gram flour, fine", (("500 g", 64, "pkt"), ("1 kg", 120, "pkt"))),
        ("Sooji", "1103", 5, "Semolina (rava), medium", (("500 g", 36, "pkt"), ("1 kg", 66, "pkt"))),
    )),
    ("Rice", 1.5, 0, ("Sunehri", "Kaveri Gold", "Himgiri", "Annadata"), (
        ("Basmati Rice", "1006", 5, "Aged long-grain basmati",
         (("1 kg", 145, "pkt"), ("5 kg", 690, "bag"))),
        ("Sona Masoori Rice", "1006", 5, "Raw rice, everyday",
         (("10 kg", 640, "bag"), ("25 kg", 1490, "bag"))),
        ("Kolam Rice", "1006", 5, "Kolam rice, medium grain", (("10 kg", 580, "bag"),)),
        ("Poha", "1904", 5, "Flattened rice, thick", (("500 g", 38, "pkt"), ("1 kg", 70, "pkt"))),
    )),
    ("Dal & Pulses", 1.5, 0, ("Desi Rasoi", "Swad", "Nirmal", "Kisan Gold"), (
        ("Toor Dal", "0713", 5, "Unpolished arhar dal", (("500 g", 89, "pkt"), ("1 kg", 172, "pkt"))),
        ("Moong Dal", "0713", 5, "Split yellow moong", (("500 g", 78, "pkt"), ("1 kg", 150, "pkt"))),
        ("Chana Dal", "0713", 5, "Split Bengal gram", (("500 g", 58, "pkt"), ("1 kg", 110, "pkt"))),
        ("Urad Dal", "0713", 5, "Split black gram, dehusked",
         (("500 g", 82, "pkt"), ("1 kg", 158, "pkt"))),
        ("Masoor Dal", "0713", 5, "Red lentils", (("500 g", 64, "pkt"), ("1 kg", 122, "pkt"))),
        ("Rajma", "0713", 5, "Red kidney beans, Jammu", (("500 g", 95, "pkt"),)),
        ("Kabuli Chana", "0713", 5, "White chickpeas, bold", (("500 g", 88, "pkt"),)),
    )),
    ("Edible Oil", 1.4, 0, ("Amrut", "Swad", "Sagar", "Gharana"), (
        ("Refined Sunflower Oil", "1512", 5, "Refined sunflower oil",
         (("1 L", 165, "btl"), ("5 L", 790, "can"))),
        ("Soyabean Oil", "1507", 5, "Refined soyabean oil", (("1 L", 150, "btl"), ("5 L", 720, "can"))),
        ("Kachi Ghani Mustard Oil", "1514", 5, "Cold-pressed mustard oil",
         (("1 L", 185, "btl"), ("5 L", 880, "can"))),
        ("Groundnut Oil", "1508", 5, "Filtered groundnut oil", (("1 L", 210, "btl"),)),
    )),
    ("Spices & Masala", 1.1, 0, ("Swad", "Masala King", "Rasoi Ratna", "Shudh"), (
        ("Turmeric Powder", "0910", 5, "Haldi powder", (("100 g", 32, "pkt"), ("200 g", 60, "pkt"))),
        ("Red Chilli Powder", "0904", 5, "Lal mirch, medium hot",
         (("100 g", 42, "pkt"), ("200 g", 80, "pkt"))),
        ("Coriander Powder", "0909", 5, "Dhania powder", (("100 g", 30, "pkt"), ("200 g", 56, "pkt"))),
        ("Garam Masala", "0910", 5, "Whole-spice blend", (("50 g", 48, "pkt"), ("100 g", 90, "pkt"))),
        ("Jeera Whole", "0909", 5, "Cumin seeds, bold", (("100 g", 65, "pkt"),)),
        ("Chole Masala", "0910", 5, "Spice mix for chole", (("100 g", 72, "pkt"),)),
        ("Kitchen King Masala", "0910", 5, "All-purpose curry masala", (("100 g", 75, "pkt"),)),
        ("Sambar Masala", "0910", 5, "Spice mix for sambar", (("100 g", 60, "pkt"),)),
    )),
    ("Salt", 1.2, 0, ("Nirmal", "Sagar", "Samudra"), (
        ("Iodised Salt", "2501", 0, "Free-flowing iodised salt", (("1 kg", 28, "pkt"),)),
        ("Rock Salt", "2501", 0, "Sendha namak", (("1 kg", 62, "pkt"),)),
        ("Black Salt", "2501", 0, "Kala namak powder", (("100 g", 20, "pkt"),)),
    )),
    ("Sugar & Jaggery", 1.3, 2, ("Mithas", "Shudh", "Kisan Gold"), (
        ("Sugar", "1701", 5, "Refined sugar, S-30", (("1 kg", 52, "pkt"), ("5 kg", 255, "bag"))),
        ("Jaggery", "1701", 5, "Gur blocks, chemical-free", (("1 kg", 82, "pkt"),)),
        ("Jaggery Powder", "1701", 5, "Gur powder", (("500 g", 55, "pkt"),)),
        ("Mishri", "1701", 5, "Crystal sugar (dhaga mishri)", (("200 g", 40, "pkt"),)),
    )),
    ("Tea & Coffee", 1.3, 0, ("Chai Bahar", "Assam Valley", "Nilgiri Estate", "Kaapi Club"), (
        ("Premium Leaf Tea", "0902", 5, "CTC leaf tea, strong",
         (("250 g", 140, "pkt"), ("500 g", 270, "pkt"), ("1 kg", 520, "pkt"))),
        ("Dust Tea", "0902", 5, "Dust tea for kadak chai", (("250 g", 120, "pkt"), ("500 g", 230, "pkt"))),
        ("Green Tea", "0902", 5, "Green tea bags", (("25 bags", 165, "box"),)),
        ("Filter Coffee", "0901", 5, "Coffee-chicory blend 80:20",
         (("200 g", 160, "pkt"), ("500 g", 380, "pkt"))),
        ("Instant Coffee", "2101", 18, "Pure instant coffee", (("50 g", 170, "jar"), ("100 g", 320, "jar"))),
    )),
    ("Biscuits", 1.2, 0, ("Sunrise Bakers", "Golden Bake", "Krunchy", "Choco Mela"), (
        ("Glucose Biscuits", "1905", 18, "Glucose biscuits, family favourite",
         (("100 g", 10, "pkt"), ("800 g", 80, "pkt"))),
        ("Marie Biscuits", "1905", 18, "Light, crisp tea-time biscuits", (("250 g", 35, "pkt"),)),
        ("Cream Biscuits", "1905", 18, "Chocolate cream sandwich", (("120 g", 30, "pkt"),)),
        ("Butter Cookies", "1905", 18, "Butter cookies, bakery style", (("200 g", 50, "pkt"),)),
        ("Digestive Biscuits", "1905", 18, "High-fibre digestive", (("250 g", 60, "pkt"),)),
        ("Salted Crackers", "1905", 18, "Salted crackers, crisp", (("200 g", 35, "pkt"),)),
    )),
    ("Snacks & Namkeen", 1.0, 0, ("Namkeen Ghar", "Desi Swaad", "Chatpata", "Mirchi Bites"), (
        ("Aloo Bhujia", "2106", 12, "Spicy potato sev", (("200 g", 55, "pkt"), ("400 g", 105, "pkt"))),
        ("Moong Dal Namkeen", "2106", 12, "Fried moong dal, salted", (("200 g", 50, "pkt"),)),
        ("Khatta Meetha", "2106", 12, "Sweet and tangy mixture", (("200 g", 50, "pkt"),)),
        ("Navratan Mix", "2106", 12, "Nine-ingredient mixture", (("400 g", 110, "pkt"),)),
        ("Potato Chips Salted", "2005", 12, "Classic salted chips",
         (("52 g", 20, "pkt"), ("90 g", 35, "pkt"))),
        ("Masala Peanuts", "2008", 12, "Coated masala peanuts", (("150 g", 40, "pkt"),)),
    )),
    ("Instant Noodles & Pasta", 0.9, 0, ("QuickChef", "Yum Noodles", "Masti"), (
        ("Masala Noodles", "1902", 18, "2-minute masala noodles",
         (("70 g", 14, "pkt"), ("280 g (4-pack)", 56, "pkt"))),
        ("Atta Noodles", "1902", 18, "Whole wheat noodles", (("75 g", 20, "pkt"),)),
        ("Cup Noodles", "1902", 18, "Cup noodles, masala", (("70 g", 50, "pcs"),)),
        ("Macaroni", "1902", 12, "Durum wheat macaroni", (("400 g", 60, "pkt"),)),
        ("Vermicelli", "1902", 12, "Roasted seviyan", (("450 g", 55, "pkt"),)),
    )),
    ("Beverages", 0.8, 1, ("Fresh Sip", "Tropico", "Energia"), (
        ("Mango Drink", "2202", 12, "Mango fruit drink", (("600 ml", 40, "btl"), ("1.2 L", 75, "btl"))),
        ("Mixed Fruit Juice", "2009", 12, "Mixed fruit juice, no added sugar", (("1 L", 110, "pcs"),)),
        ("Health Drink Powder", "1901", 18, "Malted health drink, chocolate",
         (("500 g", 250, "jar"), ("1 kg", 470, "jar"))),
        ("Rose Sharbat", "2106", 12, "Rose syrup, concentrate", (("750 ml", 150, "btl"),)),
        ("Lemon Squash", "2202", 12, "Lemon barley squash", (("750 ml", 140, "btl"),)),
    )),
    ("Dairy & Ghee", 0.9, 2, ("Gokul Farms", "Kamdhenu", "Shudh"), (
        ("Cow Ghee", "0405", 12, "Pure cow ghee, danedar", (("500 ml", 340, "pcs"), ("1 L", 660, "pcs"))),
        ("Desi Ghee", "0405", 12, "Desi ghee, traditional", (("1 L", 620, "pcs"), ("5 L", 3050, "can"))),
        ("Dairy Whitener", "0402", 5, "Dairy whitener for tea",
         (("200 g", 90, "pkt"), ("1 kg", 420, "pkt"))),
        ("Skimmed Milk Powder", "0402", 5, "Skimmed milk powder", (("500 g", 230, "pkt"),)),
    )),
    ("Bath Soap", 1.0, 0, ("Nirmal", "Chandan Sparsh", "Neem Veda", "Fresh Aura"), (
        ("Sandal Soap", "3401", 18, "Sandalwood bathing bar", (("75 g", 35, "pcs"), ("125 g", 55, "pcs"))),
        ("Neem Soap", "3401", 18, "Neem and tulsi soap", (("100 g", 38, "pcs"),)),
        ("Glycerin Soap", "3401", 18, "Transparent glycerin soap", (("100 g", 45, "pcs"),)),
        ("Lime Fresh Soap", "3401", 18, "Lime soap, value pack", (("4 x 100 g", 120, "pkt"),)),
        ("Carbolic Soap", "3401", 18, "Carbolic health soap", (("100 g", 25, "pcs"),)),
    )),
    ("Detergent", 1.0, 0, ("Dhavala", "Shubhra", "Brite", "Safed"), (
        ("Detergent Powder", "3402", 18, "Washing powder, lemon",
         (("500 g", 55, "pkt"), ("1 kg", 105, "pkt"), ("4 kg", 400, "bag"))),
        ("Detergent Bar", "3401", 18, "Washing bar, blue", (("250 g", 12, "pcs"),)),
        ("Liquid Detergent", "3402", 18, "Liquid detergent, front and top load", (("1 L", 199, "pcs"),)),
        ("Dishwash Bar", "3401", 18, "Dishwash bar, lemon", (("200 g", 20, "pcs"),)),
        ("Dishwash Liquid", "3402", 18, "Dishwash gel, lemon", (("500 ml", 110, "btl"),)),
    )),
    ("Personal Care", 0.9, 0, ("Dant Raksha", "Keshavardhini", "Fresh Aura", "Himgiri Herbals"), (
        ("Toothpaste", "3306", 18, "Herbal toothpaste, clove", (("100 g", 55, "pcs"), ("200 g", 105, "pcs"))),
        ("Toothbrush", "9603", 18, "Toothbrush, medium bristles", (("1 pc", 25, "pcs"),)),
        ("Coconut Hair Oil", "3305", 18, "Pure coconut hair oil",
         (("100 ml", 45, "btl"), ("300 ml", 130, "btl"))),
        ("Herbal Shampoo", "3305", 18, "Shikakai and reetha shampoo", (("180 ml", 140, "btl"),)),
        ("Talcum Powder", "3304", 18, "Cool talc, sandal", (("100 g", 70, "pcs"),)),
    )),
    ("Household", 0.7, 2, ("Pooja Jyoti", "Sparkle", "Gharelu"), (
        ("Agarbatti", "3307", 5, "Incense sticks, sandal and rose", (("100 sticks", 50, "box"),)),
        ("Dhoop Cones", "3307", 5, "Dhoop cones, guggal", (("20 cones", 40, "box"),)),
        ("Safety Matches", "3605", 12, "Safety matchboxes, bundle", (("10 boxes", 20, "pkt"),)),
        ("Floor Cleaner", "3402", 18, "Floor cleaner, pine", (("500 ml", 105, "btl"), ("1 L", 190, "btl"))),
        ("Toilet Cleaner", "3402", 18, "Thick toilet cleaner", (("500 ml", 95, "btl"),)),
        ("Scrub Pad", "6805", 18, 'Green scrub pad, 3" x 4"', (("3 pcs", 30, "pkt"),)),
        ("Camphor", "2914", 18, "Pure camphor tablets", (("50 g", 75, "box"),)),
    )),
    ("Dry Fruits", 0.6, 2, ("Nutty Gold", "Kashmir Valley", "Royal Harvest"), (
        ("Cashew W320", "0801", 5, "Whole cashews, W320 grade",
         (("250 g", 290, "pkt"), ("500 g", 560, "pkt"))),
        ("Almonds", "0802", 12, "California almonds", (("250 g", 260, "pkt"), ("500 g", 510, "pkt"))),
        ("Raisins", "0806", 5, "Golden raisins (kishmish)", (("250 g", 110, "pkt"),)),
        ("Dates", "0804", 12, "Seedless dates", (("500 g", 160, "pkt"),)),
    )),
    ("Pickles & Sauces", 0.6, 0, ("Amma's Kitchen", "Tangy", "Swad"), (
        ("Mango Pickle", "2001", 12, "Andhra-style mango pickle",
         (("400 g", 110, "jar"), ("1 kg", 240, "jar"))),
        ("Mixed Pickle", "2001", 12, "Mixed vegetable pickle, mustard oil", (("400 g", 105, "jar"),)),
        ("Tomato Ketchup", "2103", 12, "Tomato ketchup, no onion no garlic",
         (("500 g", 110, "btl"), ("1 kg", 190, "btl"))),
        ("Green Chilli Sauce", "2103", 12, "Green chilli sauce, hot", (("200 g", 60, "btl"),)),
    )),
)

# Categories bought together: each product gets one partner in each other category of its groups.
AFFINITY_GROUPS = (
    ("Tea & Coffee", "Sugar & Jaggery", "Biscuits"),
    ("Atta & Flour", "Edible Oil", "Dal & Pulses"),
    ("Rice", "Dal & Pulses", "Spices & Masala"),
    ("Bath Soap", "Detergent", "Personal Care"),
    ("Instant Noodles & Pasta", "Snacks & Namkeen", "Beverages"),
    ("Dairy & Ghee", "Dry Fruits", "Sugar & Jaggery"),
)

# Typical order quantity per usage unit, before store size and rhythm.
UNIT_QTY = {"bag": 3, "can": 2, "btl": 6, "pkt": 12, "pcs": 24, "jar": 6, "box": 6}

# (sales person, warehouse, cities); city: (name, state, first PIN, PIN range, localities)
TERRITORIES = (
    ("Rahul Deshmukh", "Bhiwandi Warehouse", (
        ("Mumbai", "Maharashtra", 400001, 99, ("Andheri", "Dadar", "Borivali", "Ghatkopar", "Malad")),
        ("Thane", "Maharashtra", 400601, 15, ("Naupada", "Kopri", "Vartak Nagar")),
        ("Pune", "Maharashtra", 411001, 60, ("Kothrud", "Hadapsar", "Shivajinagar", "Aundh")),
        ("Nashik", "Maharashtra", 422001, 12, ("Panchavati", "Cidco", "Satpur")),
    )),
    ("Priya Nair", "Bengaluru Warehouse", (
        ("Bengaluru", "Karnataka", 560001, 99, ("Jayanagar", "Malleswaram", "Koramangala", "Whitefield")),
        ("Mysuru", "Karnataka", 570001, 30, ("Vijayanagar", "Kuvempunagar")),
        ("Hosur", "Tamil Nadu", 635109, 17, ("Bagalur Road", "Mathigiri")),
        ("Chennai", "Tamil Nadu", 600001, 99, ("T. Nagar", "Mylapore", "Adyar", "Anna Nagar")),
    )),
    ("Suresh Reddy", "Hyderabad Warehouse", (
        ("Hyderabad", "Telangana", 500001, 95, ("Ameerpet", "Kukatpally", "Dilsukhnagar", "Secunderabad")),
        ("Warangal", "Telangana", 506001, 15, ("Hanamkonda", "Kazipet")),
        ("Vijayawada", "Andhra Pradesh", 520001, 15, ("Benz Circle", "Governorpet")),
        ("Visakhapatnam", "Andhra Pradesh", 530001, 50, ("Dwaraka Nagar", "Gajuwaka")),
    )),
    ("Amit Sharma", "Delhi NCR Warehouse", (
        ("New Delhi", "Delhi", 110001, 95, ("Karol Bagh", "Lajpat Nagar", "Rohini", "Janakpuri")),
        ("Noida", "Uttar Pradesh", 201301, 10, ("Sector 18", "Sector 62")),
        ("Ghaziabad", "Uttar Pradesh", 201001, 20, ("Indirapuram", "Raj Nagar")),
        ("Gurugram", "Haryana", 122001, 18, ("Sector 14", "DLF Phase 3")),
        ("Jaipur", "Rajasthan", 302001, 40, ("Malviya Nagar", "Vaishali Nagar", "Raja Park")),
    )),
    ("Neha Patel", "Ahmedabad Warehouse", (
        ("Ahmedabad", "Gujarat", 380001, 60, ("Maninagar", "Navrangpura", "Satellite", "Bapunagar")),
        ("Surat", "Gujarat", 395001, 17, ("Adajan", "Varachha")),
        ("Vadodara", "Gujarat", 390001, 25, ("Alkapuri", "Karelibaug")),
        ("Indore", "Madhya Pradesh", 452001, 18, ("Vijay Nagar", "Rajwada")),
    )),
)

NAME_PREFIXES = ("Shree ", "Sri ", "New ", "Jai ", "Om ", "Maa ", "Sai ", "Royal ", "", "", "", "")
NAME_CORES = (
    "Ganesh", "Balaji", "Lakshmi", "Durga", "Krishna", "Ambika", "Mahalaxmi", "Vinayak", "Sharma",
    "Gupta", "Agarwal", "Patel", "Reddy", "Iyer", "Nair", "Khan", "Singh", "Jain", "Bansal",
    "Mehta", "Raju", "Murugan", "Venkatesh", "Annapurna", "Bharat", "Hindustan", "Ganga", "Kaveri",
    "Saraswati", "Hanuman", "Sagar", "Anand", "Kumar", "Desai", "Joshi", "Pillai", "Rao", "Yadav",
)
NAME_SUFFIXES = (
    "Kirana Store", "General Stores", "Provision Store", "Super Market", "Traders",
    "Departmental Store", "Mart", "Supermart", "Enterprises", "& Sons", "Grocers", "Bazaar",
)
NICKNAMES = ("Sasta Bazaar", "Apna", "Sabka", "Number 1", "Bada")

PAYMENT_TERMS = (("Due on Receipt", 0, 0.15), ("Net 7", 7, 0.25), ("Net 15", 15, 0.35),
                 ("Net 30", 30, 0.25))
STORE_NOTES = (
    'Deliver at the back entrance, ask for "Ramesh"',
    "Shop closed on Tuesdays, deliver before 11 AM",
    "Collect cheque on delivery",
    "Unload at godown, not at the shop",
)
DEFAULT_NOTE = "Thanks for your business."
# (item name, description, low, high in rupees); "Discount" is a share of the invoice instead.
MISC_ITEMS = (
    ("Shipping Charges", "Freight to store", 40, 250),
    ("Postage", "Courier of documents", 15, 60),
    ("Bank Charges", "Cheque bounce / bank fee", 10, 35),
    ("Discount", "Special discount on invoice", 0, 0),
    ("Adjustment", "Round off", 0, 0),
)


@dataclass(frozen=True)
class Product:
    """One catalogue item; money in paise, tax in percent."""
    index: int
    product_id: str
    sku: str
    name: str
    brand: str
    category: str
    description: str
    unit: str
    mrp_paise: int
    price_paise: int
    tax_pct: int
    hsn: str
    typical_qty: float
    season: int
    popularity_rank: int  # 0 = best seller
    partners: tuple[int, ...]  # product indices bought together with this one


@dataclass(frozen=True)
class StoreProfile:
    """One store and the rhythm it orders with; `end_date` None means it never churns."""
    index: int
    customer_id: str
    name: str
    rhythm: str  # "weekly", "fortnightly" or "monthly"
    rhythm_days: int
    gap_sd_days: float
    skip_prob: float
    start_date: date  # no order before this day (late for new stores)
    end_date: date | None  # no order after this day (churned stores)
    size: float  # quantity multiplier, log-normal around 1
    sales_person: str
    warehouse: str
    city: str
    state: str
    billing_code: str
    shipping_code: str
    payment_terms: str
    payment_days: int
    discount_pct: float  # standing trade discount, applied to some lines
    places_po: bool
    note: str
    core: tuple[tuple[int, float, float], ...]  # (product index, order probability, base qty)
    extras_mean: float

    @property
    def core_product_indices(self) -> tuple[int, ...]:
        return tuple(p for p, _, _ in self.core)


@dataclass(frozen=True)
class Plan:
    """Everything decided before the first invoice: catalogue, stores, calendar."""
    products: list[Product]
    stores: list[StoreProfile]
    start_date: date
    span_days: int  # expected length of the timeline
    basket_scale: float  # > 1 when the calendar cap made baskets grow

    @property
    def as_of(self) -> date:
        """The export's notional "today": the expected end of the timeline."""
        return date.fromordinal(self.start_date.toordinal() + self.span_days)


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------

def _catalogue_templates() -> list[list[tuple]]:
    """All (category, brand, item, pack) combinations, grouped per category."""
    per_category = []
    for cat_name, weight, season, brands, items in CATEGORIES:
        combos = []
        for brand in brands:
            for item in items:
                for pack in item[4]:
                    combos.append((cat_name, weight, season, brand, item, pack))
        per_category.append(combos)
    return per_category


def _pick_templates(count: int, rng: random.Random) -> list[tuple]:
    """`count` templates spread over categories; beyond all combinations, multi-pack variants."""
    per_category = _catalogue_templates()
    for combos in per_category:
        rng.shuffle(combos)
    # Round-robin over categories so a smaller catalogue still covers every category.
    interleaved = []
    depth = max(len(c) for c in per_category)
    for i in range(depth):
        interleaved.extend(c[i] for c in per_category if i < len(c))
    chosen = [(t, 1) for t in interleaved[:count]]
    k = 2
    while len(chosen) < count:
        chosen.extend((t, k) for t in interleaved[:count - len(chosen)])
        k += 1
    # Stable, readable ID order: by category as listed, then name.
    order = {c[0]: i for i, c in enumerate(CATEGORIES)}
    chosen.sort(key=lambda tk: (order[tk[0][0]], tk[0][4][0], tk[0][3], tk[0][5][1], tk[1]))
    return chosen


def _make_product(index: int, template: tuple, multiple: int, rng: random.Random) -> dict:
    cat_name, weight, season, brand, item, pack = template
    item_name, hsn, gst, desc, _ = item
    label, mrp, unit = pack
    # Brands price differently; MRPs end in whole rupees as printed on packs.
    mrp_paise = max(1, round(mrp * multiple * rng.uniform(0.92, 1.12))) * 100
    price_paise = int(mrp_paise * (1 - rng.uniform(0.08, 0.20)))
    name = f"{brand} {item_name} {label}"
    description = f"{desc}, {label} {unit}"
    if multiple > 1:
        name += f" (Pack of {multiple})"
        description += f", pack of {multiple}"
        unit = "box"
    return dict(
        index=index, product_id=f"PROD-{index + 1:04d}", sku=f"SKU-{index + 1:04d}", name=name,
        brand=brand, category=cat_name, description=description, unit=unit,
        mrp_paise=mrp_paise, price_paise=price_paise, tax_pct=gst, hsn=hsn,
        typical_qty=UNIT_QTY[unit] * rng.uniform(0.7, 1.4), season=season,
        weight=weight * rng.uniform(0.3, 1.7),
    )


def _assign_partners(rows: list[dict]) -> None:
    """Tie the k-th best seller of a category to the k-th (mod 3) of each affine category."""
    by_cat: dict[str, list[dict]] = {}
    rank_in_cat: dict[int, int] = {}
    for r in sorted(rows, key=lambda r: r["popularity_rank"]):
        same = by_cat.setdefault(r["category"], [])
        rank_in_cat[r["index"]] = len(same)
        same.append(r)
    for r in rows:
        partners = []
        for group in AFFINITY_GROUPS:
            if r["category"] not in group:
                continue
            for other in group:
                cands = by_cat.get(other)
                if other == r["category"] or not cands:
                    continue
                p = cands[rank_in_cat[r["index"]] % min(3, len(cands))]["index"]
                if p not in partners:
                    partners.append(p)
        r["partners"] = tuple(partners)


def product_catalog(products: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED) -> list[Product]:
    """The catalogue the generator sells from, in Product ID order."""
    rng = random.Random(f"{seed}/catalogue")
    rows = [_make_product(i, t, k, rng) for i, (t, k) in enumerate(_pick_templates(products, rng))]
    for rank, r in enumerate(sorted(rows, key=lambda r: -r["weight"])):
        r["popularity_rank"] = rank
    _assign_partners(rows)
    for r in rows:
        del r["weight"]
    return [Product(**r) for r in rows]


def _zipf_cumulative(catalog: list[Product]) -> list[float]:
    """Cumulative Zipf weights by product index, for bisect sampling."""
    cum, total = [], 0.0
    for p in catalog:
        total += 1.0 / (p.popularity_rank + 1) ** ZIPF_EXPONENT
        cum.append(total)
    return cum


def _draw_product(rng: random.Random, cum: list[float]) -> int:
    if rng.random() < UNIFORM_EXTRAS:
        return rng.randrange(len(cum))
    return min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)


# ---------------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------------

def _weighted(rng: random.Random, options, weight_at: int):
    return rng.choices(options, weights=[o[weight_at] for o in options])[0]


def _store_name(i: int, rng: random.Random, locality: str, taken: set[str]) -> str:
    core = rng.choice(NAME_CORES)
    suffix = rng.choice(NAME_SUFFIXES)
    if i % 50 == 7:  # a few names carry quotes, as real shop names sometimes do
        name = f'{core} "{rng.choice(NICKNAMES)}" {suffix}'
    else:
        name = f"{rng.choice(NAME_PREFIXES)}{core} {suffix}"
    if rng.random() < 0.3 or name in taken:
        name = f"{name}, {locality}"
    if i % 37 == 5:  # and some carry their Devanagari signboard name
        name += " (किराना स्टोर)"
    n = 2
    base = name
    while name in taken:
        name = f"{base} ({n})"
        n += 1
    taken.add(name)
    return name


def _store_identity(i: int, rng: random.Random, taken: set[str]) -> dict:
    """Name, place, terms and rhythm of store i; independent of the file size."""
    person, warehouse, cities = TERRITORIES[rng.randrange(len(TERRITORIES))]
    city, state, pin0, pin_span, localities = rng.choice(cities)
    pin = str(pin0 + rng.randrange(pin_span))
    ship_pin = pin if rng.random() < 0.85 else str(pin0 + rng.randrange(pin_span))
    rhythm, rhythm_days, _ = _weighted(rng, RHYTHMS, 2)
    terms, terms_days, _ = _weighted(rng, PAYMENT_TERMS, 2)
    size = min(4.0, rng.lognormvariate(0.0, 0.45))
    late = i > 0 and rng.random() < 0.08
    churn = i > 0 and not late and rng.random() < 0.08
    return dict(
        index=i, customer_id=f"CUST-{i + 1:05d}",
        name=_store_name(i, rng, rng.choice(localities), taken),
        rhythm=rhythm, rhythm_days=rhythm_days,
        gap_sd_days=rhythm_days * rng.uniform(0.10, 0.15), skip_prob=rng.uniform(0.02, 0.08),
        start_frac=rng.uniform(0.15, 0.55) if late else 0.0,
        end_frac=rng.uniform(0.45, 0.85) if churn else None,
        size=size, sales_person=person, warehouse=warehouse, city=city, state=state,
        billing_code=pin, shipping_code=ship_pin, payment_terms=terms, payment_days=terms_days,
        discount_pct=rng.choice((1.0, 2.0, 2.5, 3.0, 5.0)) if rng.random() < 0.3 else 0.0,
        places_po=rng.random() < 0.3,
        note=rng.choice(STORE_NOTES) if rng.random() < 0.1 else DEFAULT_NOTE,
        core_size=max(2, min(9, round(2 + 2.5 * size + rng.uniform(-1, 1)))),
        extras_mean=0.5 + 0.4 * size,
    )


def _qty_multiplier(size: float, rhythm_days: int) -> float:
    # A monthly store buys a month's stock at once, a weekly one a week's.
    return size * (rhythm_days / 14) ** 0.6


def _core_basket(store: dict, size: int, catalog: list[Product], cum: list[float],
                 rng: random.Random) -> tuple[tuple[int, float, float], ...]:
    """Regular products: popular anchors plus (often) their partners, each with a stable qty."""
    chosen: list[int] = []
    seen: set[int] = set()
    attempts = 0
    while len(chosen) < size and attempts < size * 50:
        attempts += 1
        anchor = _draw_product(rng, cum)
        if anchor in seen:
            continue
        group = [anchor] + [p for p in catalog[anchor].partners if rng.random() < CORE_PARTNER_PROB]
        for p in group:
            if p not in seen and len(chosen) < size:
                seen.add(p)
                chosen.append(p)
    mult = _qty_multiplier(store["size"], store["rhythm_days"])
    return tuple(
        (p, rng.uniform(0.75, 0.98), max(1.0, catalog[p].typical_qty * mult * rng.uniform(0.6, 1.4)))
        for p in sorted(chosen)
    )


def _lines_per_day(store: dict, core: tuple, extras_mean: float, draw_prob: list[float],
                   partner_factor: float) -> float:
    """Expected invoice lines a store produces per active day (for sizing the calendar)."""
    # Sundays and festival days push orders back by ~0.3 day on average.
    mean_gap = store["rhythm_days"] * (1 + store["skip_prob"]) + 0.3
    # Extras that hit a product already in the order add no line.
    hit = sum(draw_prob[p] for p, _, _ in core)
    extras = extras_mean * partner_factor * (1 - hit)
    exceptional = 1 + RETURN_RATE + FREE_GOODS_RATE + MISC_RATE
    return (sum(prob for _, prob, _ in core) + extras) * exceptional / mean_gap


def _active_fraction(store: dict) -> float:
    end = store["end_frac"] if store["end_frac"] is not None else 1.0
    return end - store["start_frac"]


def _baskets(ids: list[dict], scale: float, catalog: list[Product], cum: list[float],
             seed: int) -> tuple[list[tuple], float]:
    """Core baskets for all stores at a basket scale, and the lines per day they produce."""
    rng = random.Random(f"{seed}/baskets")
    n = len(catalog)
    draw_prob = [UNIFORM_EXTRAS / n + (1 - UNIFORM_EXTRAS) * (c - prev) / cum[-1]
                 for c, prev in zip(cum, [0.0] + cum[:-1])]
    # An extra brings each of its partners along with EXTRA_PARTNER_PROB.
    partner_factor = 1 + EXTRA_PARTNER_PROB * sum(len(p.partners) for p in catalog) / n
    cores, rate = [], 0.0
    for s in ids:
        size = max(1, min(round(s["core_size"] * scale), n // 3 or 1))
        core = _core_basket(s, size, catalog, cum, rng)
        cores.append(core)
        rate += _lines_per_day(s, core, s["extras_mean"] * scale, draw_prob, partner_factor) \
            * _active_fraction(s)
    return cores, rate


def _fit_baskets(ids: list[dict], lines: int, catalog: list[Product], cum: list[float],
                 seed: int) -> tuple[list[tuple], float, int]:
    """(cores, scale, span): grow baskets until `lines` fit in MAX_SPAN_DAYS or baskets are full."""
    max_scale = max(1.0, len(catalog) / 3 / (sum(s["core_size"] for s in ids) / len(ids)))
    scale = 1.0
    for _ in range(6):  # converges in two or three rounds; dedup makes it slightly non-linear
        cores, rate = _baskets(ids, scale, catalog, cum, seed)
        span = max(1, round(lines / rate))
        if span <= MAX_SPAN_DAYS * 1.01 or scale >= max_scale:
            break
        scale = min(max_scale, scale * span / MAX_SPAN_DAYS)
    return cores, scale, span


def build_plan(lines: int = DEMO_LINES, stores: int = DEFAULT_STORES,
               products: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED,
               start_date: date = DEFAULT_START_DATE) -> Plan:
    """Decide catalogue, stores (with rhythms and core baskets) and the expected calendar."""
    if stores < 1 or products < 1:
        raise ValueError("need at least one store and one product")
    catalog = product_catalog(products, seed)
    cum = _zipf_cumulative(catalog)
    id_rng = random.Random(f"{seed}/stores")
    taken: set[str] = set()
    ids = [_store_identity(i, id_rng, taken) for i in range(stores)]
    cores, scale, span = _fit_baskets(ids, max(lines, 1), catalog, cum, seed)
    start = start_date.toordinal()
    profiles = []
    for s, core in zip(ids, cores):
        start_frac, end_frac = s.pop("start_frac"), s.pop("end_frac")
        s.pop("core_size")
        s["core"] = core
        s["extras_mean"] *= scale
        s["start_date"] = date.fromordinal(start + round(start_frac * span))
        s["end_date"] = None if end_frac is None else date.fromordinal(start + round(end_frac * span))
        profiles.append(StoreProfile(**s))
    return Plan(catalog, profiles, start_date, span, scale)


def store_profiles(stores: int = DEFAULT_STORES, seed: int = DEFAULT_SEED, *,
                   lines: int = DEMO_LINES, products: int = DEFAULT_PRODUCTS,
                   start_date: date = DEFAULT_START_DATE) -> list[StoreProfile]:
    """Each store's id, name, rhythm and active dates, exactly as `iter_rows` uses them.

    The defaults are the demo set's; pass the same arguments as the generated file otherwise
    (start and end dates scale with the timeline, which depends on `lines`).
    """
    return build_plan(lines, stores, products, seed, start_date).stores


# ---------------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------------

class _Calendar:
    """Per-day facts (ISO string, closed or not, seasonal factors), cached by ordinal."""

    def __init__(self, start: date):
        self.start = start.toordinal()
        self._iso: dict[int, str] = {}
        self._closed: dict[int, bool] = {}
        self._factors: dict[int, tuple[float, float, float]] = {}

    def iso(self, day: int) -> str:
        s = self._iso.get(day)
        if s is None:
            s = self._iso[day] = date.fromordinal(day).isoformat()
        return s

    def closed(self, day: int) -> bool:
        c = self._closed.get(day)
        if c is None:
            d = date.fromordinal(day)
            c = self._closed[day] = d.weekday() == 6 or (d.month, d.day) in HOLIDAYS
        return c

    def next_open(self, day: int) -> int:
        while self.closed(day):
            day += 1
        return day

    def factors(self, day: int) -> tuple[float, float, float]:
        """Quantity factor per season class: seasonality times slow growth."""
        f = self._factors.get(day)
        if f is None:
            d = date.fromordinal(day)
            doy = d.timetuple().tm_yday
            growth = 1 + GROWTH_PER_YEAR * (day - self.start) / 365.0
            festive = math.cos(2 * math.pi * (doy - 300) / 365.25)
            summer = math.cos(2 * math.pi * (doy - 135) / 365.25)
            f = self._factors[day] = (growth * (1 + 0.08 * festive), growth * (1 + 0.35 * summer),
                                      growth * (1 + 0.30 * festive))
        return f


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------

def _money(paise: int) -> str:
    return "%.2f" % (paise / 100)


def _round_div(value: int, numerator: int, denominator: int) -> int:
    """value * numerator / denominator rounded half away from zero, in integers."""
    q = (abs(value) * numerator * 2 + denominator) // (2 * denominator)
    return -q if value < 0 else q


class _Line:
    """One invoice line before formatting (money in paise)."""
    __slots__ = ("product", "misc", "qty", "price", "disc_bp", "disc", "total", "tax")

    def __init__(self, product, misc, qty, price, disc_bp=0):
        self.product, self.misc, self.qty, self.price, self.disc_bp = product, misc, qty, price, disc_bp
        gross = qty * price
        self.disc = _round_div(gross, disc_bp, 10000) if disc_bp else 0
        self.total = gross - self.disc
        self.tax = _round_div(self.total, product.tax_pct, 100) if product is not None else 0


class _Generator:
    """Walks the stores' order events in date order and turns each into invoice lines."""

    def __init__(self, plan: Plan, seed: int):
        self.plan = plan
        self.catalog = plan.products
        self.cum = _zipf_cumulative(plan.products)
        self.rng = random.Random(f"{seed}/orders")
        self.cal = _Calendar(plan.start_date)
        self.as_of = plan.as_of.toordinal()
        self.invoice_seq = 0
        self.so_seq = 0
        self.po_seq = [0] * len(plan.stores)
        self.qty_mult = [_qty_multiplier(s.size, s.rhythm_days) for s in plan.stores]
        self.store_tail = [self._store_tail(s) for s in plan.stores]
        self.product_cols = [self._product_cols(p) for p in plan.products]

    @staticmethod
    def _store_tail(s: StoreProfile) -> tuple[str, ...]:
        return ("INR", s.warehouse, s.sales_person, s.city, s.state, "India", s.billing_code,
                s.city, s.state, "India", s.shipping_code, s.payment_terms, s.note)

    @staticmethod
    def _product_cols(p: Product) -> tuple:
        head = (p.product_id, p.name, p.sku, p.brand, p.category, p.description)
        return head, p.unit, _money(p.mrp_paise), "%.2f" % p.tax_pct, p.hsn

    # -- timeline ---------------------------------------------------------------------------

    def first_order(self, s: StoreProfile) -> int:
        return self.cal.next_open(s.start_date.toordinal() + self.rng.randrange(s.rhythm_days))

    def next_order(self, s: StoreProfile, day: int) -> int | None:
        rng = self.rng
        gap = s.rhythm_days + rng.gauss(0.0, s.gap_sd_days)
        if rng.random() < s.skip_prob:
            gap += s.rhythm_days
        nxt = day + max(1, int(gap + 0.5))
        if self.cal.closed(nxt):
            # An order due on a Sunday is placed on Saturday or Monday; festival days wait.
            if nxt - 1 > day and not self.cal.closed(nxt - 1) and rng.random() < 0.5:
                nxt -= 1
            else:
                nxt = self.cal.next_open(nxt)
        if s.end_date is not None and nxt > s.end_date.toordinal():
            return None
        return nxt

    # -- basket -----------------------------------------------------------------------------

    def _quantity(self, base: float, factor: float) -> int:
        return max(1, int(base * factor * max(0.3, 1 + 0.2 * self.rng.gauss(0.0, 1.0)) + 0.5))

    def basket(self, s: StoreProfile, day: int) -> list[_Line]:
        rng, catalog = self.rng, self.catalog
        factors = self.cal.factors(day)
        qtys: dict[int, int] = {}
        for p, prob, base in s.core:
            if rng.random() < prob:
                qtys[p] = self._quantity(base, factors[catalog[p].season])
        n_extras = int(rng.random() * 2 * s.extras_mean + 0.5)
        mult = self.qty_mult[s.index]
        for _ in range(n_extras):
            picks = [_draw_product(rng, self.cum)]
            picks += [q for q in catalog[picks[0]].partners if rng.random() < EXTRA_PARTNER_PROB]
            for p in picks:
                if p not in qtys:
                    prod = catalog[p]
                    qtys[p] = self._quantity(prod.typical_qty * mult * 0.7, factors[prod.season])
        if not qtys:  # a store never sends an empty order: it buys its surest product
            p, _, base = max(s.core, key=lambda c: c[1])
            qtys[p] = self._quantity(base, factors[catalog[p].season])
        lines = []
        disc_bp = int(s.discount_pct * 100)
        for p in sorted(qtys):
            prod = catalog[p]
            bp = disc_bp if disc_bp and rng.random() < 0.4 else 0
            lines.append(_Line(prod, None, qtys[p], prod.price_paise, bp))
        return lines + self._exceptional_lines(s, lines)

    def _exceptional_lines(self, s: StoreProfile, lines: list[_Line]) -> list[_Line]:
        """Free goods, returns and non-product charges, appended after the product lines."""
        rng, catalog = self.rng, self.catalog
        free, returns, misc = [], [], []
        for line in lines:
            u = rng.random()
            if u < RETURN_RATE:
                p, _, base = s.core[rng.randrange(len(s.core))]
                qty = -max(1, int(base * rng.uniform(0.05, 0.3) + 0.5))
                returns.append(_Line(catalog[p], None, qty, catalog[p].price_paise))
            elif u < RETURN_RATE + FREE_GOODS_RATE:  # scheme: buy ten, get one free
                free.append(_Line(line.product, None, max(1, line.qty // 10), 0))
            elif u < RETURN_RATE + FREE_GOODS_RATE + MISC_RATE:
                misc.append(self._misc_line(sum(l.total for l in lines)))
        return free + returns + misc

    def _misc_line(self, subtotal: int) -> _Line:
        rng = self.rng
        name, desc, low, high = MISC_ITEMS[rng.randrange(len(MISC_ITEMS))]
        if name == "Discount":
            paise = -max(1000, _round_div(subtotal, rng.randint(1, 3), 100))
        elif name == "Adjustment":  # round-off to the rupee, either way
            paise = rng.choice((-1, 1)) * rng.randint(1, 99)
        else:
            paise = rng.randint(low, high) * 100
        return _Line(None, (name, desc), 1, paise)

    # -- invoice ----------------------------------------------------------------------------

    def _status(self, s: StoreProfile, day: int, due: int) -> tuple[str, bool]:
        """(status, unpaid). Old invoices are paid; the last month is often still open."""
        u = self.rng.random()
        if u < VOID_RATE:
            return "Void", False
        unpaid_prob = 0.45 if day > self.as_of - 30 else 0.02
        if self.rng.random() < unpaid_prob:
            return ("Overdue" if due < self.as_of else "Sent"), True
        return ("Closed" if u < 0.70 else "Paid"), False

    def invoice_rows(self, s: StoreProfile, day: int, lines: list[_Line]) -> Iterator[list[str]]:
        self.invoice_seq += 1
        seq = self.invoice_seq
        due = day + s.payment_days
        status, unpaid = self._status(s, day, due)
        subtotal = sum(l.total for l in lines)
        total = subtotal + sum(l.tax for l in lines)
        po = ""
        if s.places_po:
            self.po_seq[s.index] += 1
            po = f"PO/{s.index + 1}/{self.po_seq[s.index]:04d}"
        so = ""
        if self.rng.random() < 0.65:
            self.so_seq += 1
            so = f"SO-{self.so_seq:06d}"
        head = (self.cal.iso(day), str(1_598_763_000_000_000_000 + seq * 17), f"INV-{seq:06d}",
                status, s.customer_id, s.name, self.cal.iso(due), po, so)
        sub_s, total_s, bal_s = _money(subtotal), _money(total), _money(total if unpaid else 0)
        tail = self.store_tail[s.index]
        for l in lines:
            if l.product is not None:
                phead, unit, mrp_s, tax_pct_s, hsn = self.product_cols[l.product.index]
            else:
                phead = ("", l.misc[0], "", "", "", l.misc[1])
                unit, mrp_s, tax_pct_s, hsn = "", "", "0.00", ""
            yield [*head, *phead, str(l.qty), unit, _money(l.price), mrp_s,
                   "%.2f" % (l.disc_bp / 100), _money(l.disc), _money(l.total),
                   sub_s, total_s, bal_s, tax_pct_s, _money(l.tax), hsn, *tail]


def iter_rows(lines: int, stores: int = DEFAULT_STORES, products: int = DEFAULT_PRODUCTS,
              seed: int = DEFAULT_SEED, start_date: date = DEFAULT_START_DATE) -> Iterator[list[str]]:
    """Exactly `lines` data rows (header excluded), in invoice date then invoice number order."""
    plan = build_plan(lines, stores, products, seed, start_date)
    gen = _Generator(plan, seed)
    heap = [(gen.first_order(s), s.index) for s in plan.stores]
    heapq.heapify(heap)
    remaining = lines
    while remaining > 0 and heap:
        day, i = heapq.heappop(heap)
        store = plan.stores[i]
        invoice = gen.basket(store, day)[:remaining]  # the very last invoice may be cut short
        remaining -= len(invoice)
        yield from gen.invoice_rows(store, day, invoice)
        nxt = gen.next_order(store, day)
        if nxt is not None:
            heapq.heappush(heap, (nxt, i))


def write_csv(out: TextIO, lines: int, stores: int = DEFAULT_STORES,
              products: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED,
              start_date: date = DEFAULT_START_DATE,
              progress: Callable[[int], None] | None = None) -> int:
    """Write header and rows to a text stream opened with newline=""; returns the data lines."""
    writer = csv.writer(out)  # excel dialect: RFC 4180 quoting, CRLF line ends
    writer.writerow(COLUMNS)
    written = 0
    for row in iter_rows(lines, stores, products, seed, start_date):
        writer.writerow(row)
        written += 1
        if progress is not None and written % 100_000 == 0:
            progress(written)
    if progress is not None:
        progress(written)
    return written


def generate_file(path: str | os.PathLike, lines: int, stores: int = DEFAULT_STORES,
                  products: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED,
                  start_date: date = DEFAULT_START_DATE,
                  progress: Callable[[int], None] | None = None) -> int:
    """Write the export to `path` (UTF-8); returns the number of data lines."""
    with open(path, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
        return write_csv(f, lines, stores, products, seed, start_date, progress)


def write_demo(path: str | os.PathLike) -> int:
    """The demo set: 14,464 lines, 211 stores, 424 products, seed 42, from 2024-01-01."""
    return generate_file(path, DEMO_LINES, DEFAULT_STORES, DEFAULT_PRODUCTS, DEFAULT_SEED,
                         DEFAULT_START_DATE)


def generate_text(lines: int, **kwargs) -> str:
    """The whole export as a string; for tests and small files only."""
    buf = io.StringIO(newline="")
    write_csv(buf, lines, **kwargs)
    return buf.getvalue()
