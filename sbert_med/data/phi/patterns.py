"""The regular-expression building blocks of dates and addresses, one table for both finders: the Presidio
recognizers (:mod:`sbert_med.data.phi.recognizers`, ``regex`` module) and the regex-only finder
(:mod:`sbert_med.data.phi.regex`, ``re`` module).

Written in the syntax both modules read: case-sensitive unless wrapped in a scoped ``(?i:...)``, no ``\\p{...}``.
"""

from __future__ import annotations

__all__ = ["DAY", "DD", "MM", "MONTH", "STATE", "STREET"]

#: a month by name or abbreviation ("March", "Sept.", "dec")
MONTH = (r"(?i:January|February|March|April|May|June|July|August|September|October|November|December"
         r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?)")
#: a day of the month, with an optional ordinal suffix ("3", "03", "21st")
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?i:st|nd|rd|th)?"
#: month and day numbers of numeric dates, as in MM/DD ("03/14", "2024-3-14")
MM = r"(?:0?[1-9]|1[0-2])"
DD = r"(?:0?[1-9]|[12]\d|3[01])"
#: the US state (and DC) postal codes
STATE = (r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY"
         r"|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)")
#: street suffixes ("Street", "Ave", "blvd")
STREET = (r"(?i:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter"
          r"|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Alley|Row|Crescent|Close|Loop|Pike)")
