"""Synthetic clinical notes with planted identifiers of known kind, for measuring PHI-scrubbing recall."""

from __future__ import annotations

import random

FIRST = ["John", "Maria", "Robert", "Linda", "Ahmed", "Mei", "Carlos", "Olga", "Kwame", "Priya", "Thomas", "Aisha",
         "William", "Sofia", "Daniel", "Grace", "Hiroshi", "Fatima", "Peter", "Elena"]
LAST = ["Smith", "Garcia", "Johnson", "Nguyen", "Okafor", "Kowalski", "Patel", "Rossi", "Andersen", "Haddad",
        "Thompson", "Moreno", "Fischer", "Tanaka", "Oconnell", "Brennan", "Lindqvist", "Mensah", "Dubois", "Castillo"]
STREETS = ["Oak", "Maple", "Washington", "Lakeview", "Cedar Hill", "Main", "Pine", "Elm", "Sunset", "River"]
SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Lane", "Blvd", "Court"]
CITIES = [("Springfield", "IL"), ("Madison", "WI"), ("Austin", "TX"), ("Salem", "OR"), ("Albany", "NY"),
          ("Dover", "DE"), ("Boise", "ID"), ("Helena", "MT")]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CONDITIONS = [
    ("community-acquired pneumonia", "ceftriaxone and azithromycin"),
    ("type 2 diabetes mellitus", "metformin 1000 mg twice daily"),
    ("atrial fibrillation", "apixaban 5 mg and metoprolol"),
    ("congestive heart failure", "furosemide 40 mg and lisinopril"),
    ("COPD exacerbation", "nebulized albuterol and prednisone 40 mg"),
    ("acute kidney injury", "intravenous fluids and holding nephrotoxic agents"),
    ("cellulitis of the left leg", "cefazolin 2 g every 8 hours"),
    ("hypertensive urgency", "amlodipine 10 mg and hydralazine"),
]


def _date(rng: random.Random) -> str:
    year, month, day = rng.randint(1925, 2025), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.randrange(6)
    if style == 0:
        return f"{month:02d}/{day:02d}/{year}"
    if style == 1:
        return f"{month}/{day}/{year % 100:02d}"
    if style == 2:
        return f"{year}-{month:02d}-{day:02d}"
    if style == 3:
        return f"{MONTHS[month - 1]} {day}, {year}"
    if style == 4:
        return f"{day} {MONTHS[month - 1][:3]} {year}"
    return f"{MONTHS[month - 1][:3]}. {day}, {year}"


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    style = rng.randrange(4)
    return [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"][style]


def make_note(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A note and its planted ``(kind, value)`` identifiers."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    doctor = rng.choice(LAST)
    condition, treatment = rng.choice(CONDITIONS)
    city, state = rng.choice(CITIES)
    street = f"{rng.randint(2, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
    zip_code = f"{rng.randint(10000, 99999)}"
    mrn = str(rng.randint(10**6, 10**8))
    age = rng.randint(90, 104)
    domain = rng.choice(["gmail.com", "example.org", "mail.net"])
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{domain}"
    ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    admitted, dob = _date(rng), _date(rng)
    phone, phone2 = _phone(rng), _phone(rng)
    account = f"{rng.choice(['A', 'H', 'X'])}{rng.randint(100000, 999999)}"
    title = rng.choice(["Mr.", "Mrs.", "Ms."])
    planted = [
        ("name", f"{first} {last}"), ("name", doctor), ("date", admitted), ("date", dob), ("phone", phone),
        ("phone", phone2), ("record_number", mrn), ("record_number", account), ("age", f"{age}-year-old"),
        ("email", email),
        ("ssn", ssn), ("address", street), ("zip", zip_code),
    ]
    header = rng.choice([f"Patient: {first} {last}", f"Name: {last}, {first}", f"Pt name: {first} {last}"])
    if header.startswith("Name:"):
        planted[0] = ("name", f"{last}, {first}")
    note = (
        f"{header}\nMRN: {mrn}    DOB: {dob}    Acct #: {account}\n"
        f"Admission date: {admitted}\n"
        f"HPI: {title} {last} is a {age}-year-old with a history of {condition} who presented with worsening "
        f"symptoms. {last} reports adherence to {treatment}. Blood pressure 142/88, heart rate 96, SpO2 93%.\n"
        f"Social: lives alone at {street}, {city}, {state} {zip_code}. Daughter can be reached at {phone}.\n"
        f"Contact e-mail {email}; SSN {ssn} on file. Pharmacy fax {phone2}.\n"
        f"Plan: continue {treatment}; follow up with Dr. {doctor} in 2 weeks. Take 1/2 tablet if dizzy.\n"
    )
    return note, planted


def make_notes(count: int, *, seed: int = 0) -> list[tuple[str, list[tuple[str, str]]]]:
    rng = random.Random(seed)
    return [make_note(rng) for _ in range(count)]
