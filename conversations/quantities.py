"""Quantities typed at questions whose options are numeric ranges: pure functions, no I/O.

questionnaire.yaml declares such choice sets under `ranges:`: a unit and each option's bounds.
`read_quantity(text, unit)` reads what a person typed, for example

    people          "4", "4 orang", "tiga", "20an", "lebih dari 4", "1-4 orang"
    months          "5", "5 bulan", "2 minggu", "1,5 tahun", "setahun lebih", "1 tahun 3 bulan"
    million_rupiah  "2,5 juta", "2.500.000", "Rp 3jt", "1,5jt", "800rb", "3 jutaan", "1jt500"

and `RangeSet.place` names the options that hold it. One option is the answer. Two or more mean
the person must pick: the value lies between two options ("3,5 bulan": "1–3 bulan" or "4–6
bulan"?), on a bound both options include (when the flow declares one so), or a typed range spans
several options ("3-5 bulan").

"lebih" / "-an" / "lebih dari" read as "a little more than", "kurang dari" / "hampir" as "a
little less than": "2 juta lebih" is in "Rp2–3 juta", "lebih dari 12 bulan" in "> 12 bulan".
A bare number at the income question is read by its size: below 10 in millions ("3" is 3 juta),
100 to 9 999 in thousands ("800", "2500"), from 100 000 in rupiah ("2.500.000"); 10 to 99 and
10 000 to 99 999 are unclear (50 juta or 50 ribu? 15 juta or Rp15.000?) and asked again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

UNITS = ("people", "months", "million_rupiah")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# a problem `read_quantity` reports instead of a Quantity (the engine explains it; catalogue
# key `answer.range.<problem>`)
UMR = "umr"  # "UMR" / "UMK": the amount differs per region, ask for it
UNCLEAR = "unclear_amount"  # a bare 10..99 at the income question: juta? ribu?
NOT_WHOLE = "not_whole"  # "2,5 orang"


@dataclass(frozen=True, slots=True)
class Value:
    amount: Fraction
    lean: int = 0  # -1: a little less than `amount`; +1: a little more


@dataclass(frozen=True, slots=True)
class Quantity:
    low: Value
    high: Value  # the same as `low` for one value; a typed range ("1-3 bulan") has two

    @classmethod
    def of(cls, amount: int | float | str | Fraction, lean: int = 0) -> Quantity:
        value = Value(Fraction(amount), lean)
        return cls(value, value)


@dataclass(frozen=True, slots=True)
class Bound:
    """One option's range: low..high, each end inclusive unless `*_open`; no high: open-ended."""

    code: str
    low: Fraction = Fraction(0)
    low_open: bool = False
    high: Fraction | None = None
    high_open: bool = False

    def holds(self, value: Value) -> bool:
        a, lean = value.amount, value.lean
        if a < self.low or (a == self.low and (lean < 0 or (self.low_open and lean == 0))):
            return False
        return self.high is None or not (
            a > self.high or (a == self.high and (lean > 0 or (self.high_open and lean == 0)))
        )

    def below(self, value: Value) -> bool:
        """The whole range lies below `value`."""
        if self.high is None:
            return False
        a = value.amount
        return self.high < a or (self.high == a and (value.lean > 0 or self.high_open))


@dataclass(frozen=True, slots=True)
class RangeSet:
    unit: str  # one of UNITS
    bounds: tuple[Bound, ...]  # ascending, as validated on load

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.bounds)

    def place(self, quantity: Quantity) -> tuple[str, ...]:
        """The codes of the options that may hold `quantity`, in option order."""
        low, high = self._span(quantity.low), self._span(quantity.high)
        both = [i for i in low if i in high]
        if not both:  # a gap, or a typed range over several options: everything in between
            both = list(range(min(low), max(high) + 1))
        return tuple(self.bounds[i].code for i in both)

    def _span(self, value: Value) -> list[int]:
        """Indices of the bounds holding `value`; in a gap, the two around it."""
        holding = [i for i, b in enumerate(self.bounds) if b.holds(value)]
        if holding:
            return holding
        below = [i for i, b in enumerate(self.bounds) if b.below(value)]
        if not below:
            return [0]
        i = below[-1]
        return [i, i + 1] if i + 1 < len(self.bounds) else [i]


# ---- reading ----
_NUMBER_WORDS = {
    **dict.fromkeys(["nol", "kosong", "zero"], 0),
    **dict.fromkeys(["satu", "one"], 1),
    **dict.fromkeys(["dua", "two"], 2),
    **dict.fromkeys(["tiga", "three"], 3),
    **dict.fromkeys(["empat", "four"], 4),
    **dict.fromkeys(["lima", "five"], 5),
    **dict.fromkeys(["enam", "six"], 6),
    **dict.fromkeys(["tujuh", "seven"], 7),
    **dict.fromkeys(["delapan", "eight"], 8),
    **dict.fromkeys(["sembilan", "nine"], 9),
    **dict.fromkeys(["sepuluh", "ten"], 10),
    **dict.fromkeys(["sebelas", "eleven"], 11),
    "twelve": 12,
}
_HALF = {"setengah", "half"}

_WEEK = Fraction(12, 52)
_DAY = Fraction(12, 365)
_MILLION = Fraction(1)
_THOUSAND = Fraction(1, 1000)
_RUPIAH = Fraction(1, 10**6)
_UNIT_WORDS: dict[str, dict[str, Fraction]] = {
    "people": dict.fromkeys(
        _words(
            "orang org orng karyawan pegawai pekerja staf staff people person persons worker "
            "workers employee employees"
        ),
        Fraction(1),
    ),
    "months": {
        **dict.fromkeys(_words("tahun thn th taun thun year years yr yrs"), Fraction(12)),
        **dict.fromkeys(_words("bulan bln bl month months mo mos mth mths"), Fraction(1)),
        **dict.fromkeys(_words("minggu mgg mg pekan week weeks wk wks"), _WEEK),
        **dict.fromkeys(_words("hari hr day days"), _DAY),
    },
    "million_rupiah": {
        **dict.fromkeys(_words("juta jt jta jtn million millions mio"), _MILLION),
        **dict.fromkeys(_words("ribu rb rbu rebu k thousand"), _THOUSAND),
        **dict.fromkeys(["rupiah"], _RUPIAH),
    },
}
# "1 tahun 3" is 1 year 3 months, "1jt500" 1.5 million: a bare number after these units
_NEXT_SMALLER = {
    "people": {},
    "months": {Fraction(12): Fraction(1)},
    "million_rupiah": {_MILLION: _THOUSAND},
}
# "sebulan", "setahun", "sejuta": one of the unit
_SE_UNITS = {"sebulan": "bulan", "setahun": "tahun", "seminggu": "minggu", "sehari": "hari"}
_SE_UNITS_MONEY = {"sejuta": "juta", "seribu": "ribu"}

_FILLERS = _words(
    "sekitar sktr kira kurleb kisaran rata sudah udah udh sdh dah baru hanya cuma cuman cm ada "
    "sebanyak total tepat pas about around approx approximately roughly exactly only just saya ~ "
    "aku sy gw gue ya kak sih aja saja deh kok yang"
)
_UNIT_FILLERS = {
    "people": _words("selain termasuk"),
    "months": _words("lama selama sejak lulus mencari cari nyari kerja dari"),
    "million_rupiah": _words(
        "rp idr gaji gajinya gajian penghasilan pendapatan omset omzet untung laba bersih kotor "
        "upah perbulan sebulan bulanan monthly"
    ),
}
_UMR_WORDS = {"umr", "umk", "ump", "ums", "umsk", "upah minimum", "gaji minimum", "minimum wage"}

# phrases first (longest first), then single words, on the space-joined tokens
_PHRASES = [
    (r"kurang lebih|kira kira|rata rata|more or less", ""),
    (r"(?:atau|or) (?:lebih|more)|ke atas|keatas", " MORE "),
    (r"(?:atau|or) kurang|or less", " LESS "),
    (r"(?:lebih|lbh) (?:dari|dr)|di atas|diatas|more than|over|above|>", " GT "),
    (
        r"(?:kurang|krg) (?:dari|dr)|di bawah|dibawah|less than|under|below|hampir|almost|nearly|<",
        " LT ",
    ),
    (r"s / d|s d|sampai|sampe|smp|hingga|until|to|atau|or|-", " TO "),
]
_MONEY_PER_MONTH = re.compile(
    r"(?:per|/|tiap|setiap|a|each) ?(?:bulan|bln|bl|month|mo)\b|/ ?(?:bulan|bln|bl|month|mo)\b"
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|[<>+/~-]")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)  # en/em dashes, minus sign
    text = re.sub(r"\b(kira|rata)2\b", r"\1 \1", text)  # "kira2" = "kira-kira"
    text = re.sub(r"(\d)[.,]-", r"\1", text)  # "Rp3.000.000,-"
    return text.replace("≥", ">").replace("≤", "<").replace("±", " ")


def _number(token: str) -> Fraction | None:
    if token.isdigit():
        return Fraction(int(token))
    thousands = re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", token)
    if thousands and len(set(re.findall(r"[.,]", token))) == 1:  # 2.500.000, 2,500,000, 2.500
        return Fraction(int(re.sub(r"[.,]", "", token)))
    if m := re.fullmatch(r"(\d{1,3}(?:\.\d{3})+),(\d+)", token):  # 2.500,5
        return Fraction(m.group(1).replace(".", "") + "." + m.group(2))
    if m := re.fullmatch(r"(\d{1,3}(?:,\d{3})+)\.(\d+)", token):  # 2,500.5
        return Fraction(m.group(1).replace(",", "") + "." + m.group(2))
    if m := re.fullmatch(r"(\d+)[.,](\d+)", token):  # 2,5 or 2.5
        return Fraction(m.group(1) + "." + m.group(2))
    return None


def _tokens(text: str, unit: str) -> list[str] | None:
    """Canonical tokens: numbers, unit words, GT LT MORE LESS TO; None when something is left
    that is no part of a quantity."""
    s = _fold(text)
    if unit == "million_rupiah":
        s = _MONEY_PER_MONTH.sub(" ", s)
    s = " ".join(_TOKEN.findall(s))
    for pattern, repl in _PHRASES:
        s = re.sub(rf"(?<!\S)(?:{pattern})(?!\S)", repl, s)
    units = _UNIT_WORDS[unit]
    out: list[str] = []
    for tok in s.split():
        if (
            tok in ("GT", "LT", "MORE", "LESS", "TO", "belas", "puluh")
            or _number(tok) is not None
            or tok in units
            or tok in _NUMBER_WORDS
            or tok in _HALF
        ):
            out.append(tok)
        elif tok in ("lebih", "lbh", "an", "+", "plus", "more"):
            out.append("MORE")
        elif tok == "kurang":
            out.append("LESS")
        elif unit == "months" and tok in _SE_UNITS:
            out += ["1", _SE_UNITS[tok]]
        elif unit == "million_rupiah" and tok in _SE_UNITS_MONEY:
            out += ["1", _SE_UNITS_MONEY[tok]]
        elif tok.endswith("an") and tok[:-2] in units:  # "jutaan", "bulanan", "jtan"
            out += [tok[:-2], "MORE"]
        elif tok in _FILLERS or tok in _UNIT_FILLERS[unit]:
            continue
        else:
            return None
    return out


@dataclass
class _Amount:
    value: Fraction  # in the range set's unit; a bare number: as typed
    factor: Fraction | None  # the (last) unit typed; None: a bare number
    lean: int = 0


def _amount(toks: list[str], unit: str) -> _Amount | None:
    """One amount: (number [unit])+ with each unit smaller than the one before."""
    units = _UNIT_WORDS[unit]
    total = Fraction(0)
    factor: Fraction | None = None
    pending: Fraction | None = None
    seen_number = False
    i = 0

    def flush(unit_factor: Fraction | None) -> bool:
        nonlocal total, pending, factor
        if pending is None:
            return True
        if unit_factor is None:
            if factor is None:  # a bare number alone: the caller picks its unit
                return False
            unit_factor = _NEXT_SMALLER[unit].get(factor)
            if unit_factor is None:
                return False
        if factor is not None and unit_factor >= factor:
            return False
        total += pending * unit_factor
        factor = unit_factor
        pending = None
        return True

    while i < len(toks):
        tok = toks[i]
        n = _number(tok)
        if n is None and tok in _NUMBER_WORDS:
            n = Fraction(_NUMBER_WORDS[tok])
            if i + 1 < len(toks) and toks[i + 1] == "belas" and 1 <= n <= 9:
                n, i = n + 10, i + 1
            elif i + 1 < len(toks) and toks[i + 1] == "puluh" and 1 <= n <= 9:
                n, i = n * 10, i + 1
                if i + 1 < len(toks) and toks[i + 1] in _NUMBER_WORDS:
                    extra = _NUMBER_WORDS[toks[i + 1]]
                    if 1 <= extra <= 9:
                        n, i = n + extra, i + 1
        if n is None and tok in _HALF:
            n = Fraction(1, 2)
        elif n is not None and i + 1 < len(toks) and toks[i + 1] in _HALF:
            n, i = n + Fraction(1, 2), i + 1  # "satu setengah", "1 setengah"
        if n is not None:
            if pending is not None:  # two numbers in a row: "3 4"
                return None
            pending, seen_number = n, True
        elif tok in units:
            if pending is None or not flush(units[tok]):
                return None
        else:
            return None
        i += 1
    if not seen_number:
        return None
    if pending is not None:
        if factor is None:
            return _Amount(pending, None)
        if not flush(None):
            return None
    return _Amount(total, factor)


def _end(toks: list[str], unit: str) -> _Amount | None:
    """[GT|LT] amount [MORE|LESS]."""
    lean = 0
    if toks and toks[0] in ("GT", "LT"):
        lean = 1 if toks[0] == "GT" else -1
        toks = toks[1:]
    if toks and toks[-1] in ("MORE", "LESS"):
        if lean:
            return None
        lean = 1 if toks[-1] == "MORE" else -1
        toks = toks[:-1]
    amount = _amount(toks, unit)
    if amount is not None:
        amount.lean = lean
    return amount


def read_quantity(text: str, unit: str) -> Quantity | str | None:
    """A typed quantity in the unit of a range set (people, months, or millions of rupiah).

    Returns a Quantity; a problem (UMR, UNCLEAR, NOT_WHOLE) when the text is a quantity that
    cannot be placed; None when it is no quantity (the caller then matches it as text)."""
    folded = " ".join(_TOKEN.findall(_fold(text)))
    if unit == "million_rupiah" and any(
        re.search(rf"(?<!\S){w}(?!\S)", folded) for w in _UMR_WORDS
    ):
        return UMR
    toks = _tokens(text, unit)
    if not toks:
        return None
    if toks.count("TO") > 1:
        return None
    parts = [toks[: toks.index("TO")], toks[toks.index("TO") + 1 :]] if "TO" in toks else [toks]
    ends = [_end(p, unit) for p in parts]
    if any(e is None for e in ends):
        return None
    amounts: list[_Amount] = [e for e in ends if e is not None]
    typed = [a.factor for a in amounts if a.factor is not None]
    values: list[Value] = []
    for a in amounts:
        amount = a.value
        if a.factor is None:  # bare: the unit of the other end ("1-3 bulan"), or the default
            factor = typed[-1] if typed else _default_factor(unit, a.value)
            if factor is None:
                return UNCLEAR
            amount = a.value * factor
        values.append(Value(amount, a.lean))
    if unit == "people":  # whole people: "lebih dari 4" is 5 or more
        if any(v.amount.denominator != 1 for v in values):
            return NOT_WHOLE
        values = [Value(v.amount + v.lean, 0) if v.amount + v.lean >= 0 else v for v in values]
    if len(values) == 1:
        return Quantity(values[0], values[0])
    low, high = sorted(values, key=lambda v: (v.amount, v.lean))
    if unit != "people" and high.lean == 0 and high.amount > low.amount:
        high = Value(high.amount, -1)  # "Rp1–2 juta" runs up to 2 juta: the range below 2
    return Quantity(low, high)


def _default_factor(unit: str, value: Fraction) -> Fraction | None:
    """The unit of a bare number. For money, the reading that is a monthly income between
    Rp100 ribu and Rp10 juta, or clearly rupiah; None when unclear ("50", "15000")."""
    if unit != "million_rupiah":
        return Fraction(1)
    if value < 10:
        return _MILLION  # "3", "2,5"
    if 100 <= value < 10_000 and value.denominator == 1:
        return _THOUSAND  # "800", "2500"
    if value >= 100_000:
        return _RUPIAH  # "2500000"
    return None


# ---- the declaration in questionnaire.yaml ----
def parse_ranges(name: str, raw: object, codes: tuple[str, ...]) -> RangeSet:
    """A `ranges:` entry; raises ValueError naming what is wrong (the loader adds the file)."""
    where = f"ranges {name!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must map `unit` and `bounds`")
    unit = raw.get("unit")
    if unit not in UNITS:
        raise ValueError(f"{where}: unit must be one of {', '.join(UNITS)}, not {unit!r}")
    bounds_raw = raw.get("bounds")
    if not isinstance(bounds_raw, dict) or len(bounds_raw) < 2:
        raise ValueError(f"{where}: `bounds` must give at least two codes their range")
    bounds: list[Bound] = []
    for code, spec in bounds_raw.items():
        code = str(code)
        here = f"{where}, code {code!r}"
        if code not in codes:
            raise ValueError(f"{here}: not a code of choice set {name!r}")
        if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max", "below", "above"}:
            raise ValueError(f"{here}: give min/above and max/below (numbers)")
        if ("min" in spec and "above" in spec) or ("max" in spec and "below" in spec):
            raise ValueError(f"{here}: min and above (or max and below) exclude each other")
        nums: dict[str, Fraction] = {}
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{here}: {key} must be a number >= 0, not {value!r}")
            nums[key] = Fraction(str(value))
        low = nums.get("min", nums.get("above", Fraction(0)))
        high = nums.get("max", nums.get("below"))
        if high is not None and (
            high < low or (high == low and ("above" in nums or "below" in nums))
        ):
            raise ValueError(f"{here}: the range is empty")
        bounds.append(Bound(code, low, "above" in nums, high, "below" in nums))
    order = [c for c in codes if c in bounds_raw]
    if [b.code for b in bounds] != order:
        bounds.sort(key=lambda b: order.index(b.code))
    for prev, cur in zip(bounds, bounds[1:], strict=False):
        if prev.high is None or cur.low < prev.high:
            raise ValueError(
                f"{where}: {prev.code!r} and {cur.code!r} overlap or are not in ascending order"
            )
    if bounds[0].low != 0 or bounds[0].low_open:
        raise ValueError(f"{where}: the first range must start at 0 (min: 0, or only max/below)")
    if bounds[-1].high is not None:
        raise ValueError(f"{where}: the last range must be open-ended (no max/below)")
    return RangeSet(unit, tuple(bounds))
