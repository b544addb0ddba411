"""统一社会信用代码 (USCC, GB 32100-2015) check characters, as subsidyd verifies them.

Protos/USCC.md specifies the algorithm and its test vectors; this module implements exactly that.

Layout (1-based positions): 1 registration authority, 2 organisation type, 3-8 administrative
division (digits), 9-17 the GB 11714 organisation code (8 body characters, its check character at
17), 18 the GB 32100 check character over positions 1-17.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "ORGANISATION_WEIGHTS",
    "organisation_check_character",
    "uscc_check_character",
    "make_uscc",
    "uscc_is_valid",
    "uscc_problem",
]

#: The 31 characters GB 32100 allows, in check-value order (0-9 are 0-9, A = 10 ... Y = 30;
#: I, O, S, V and Z are not used).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: GB 32100 weights of positions 1-17 (3^(i-1) mod 31).
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11714 weights of the organisation code's 8 body characters (USCC positions 9-16).
ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _organisation_value(c: str) -> int:
    # GB 11714: digits are worth themselves, letters A = 10 ... Z = 35 (their own letter value,
    # not their index in USCC_ALPHABET).
    return int(c) if c.isdigit() else ord(c) - 55


def organisation_check_character(body8: str) -> str:
    """GB 11714 check character (USCC position 17) of the 8-character organisation-code body
    (positions 9-16): ``11 - (sum mod 11)``, written ``X`` for 10 and ``0`` for 11."""
    if len(body8) != 8 or any(c not in USCC_ALPHABET for c in body8):
        raise ValueError(f"not an organisation-code body: {body8!r}")
    total = sum(_organisation_value(c) * w for c, w in zip(body8, ORGANISATION_WEIGHTS))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def uscc_check_character(prefix17: str) -> str:
    """GB 32100 check character (position 18) over positions 1-17: the character whose value is
    ``(31 - sum mod 31) mod 31``."""
    if len(prefix17) != 17 or any(c not in USCC_ALPHABET for c in prefix17):
        raise ValueError(f"not a USCC prefix: {prefix17!r}")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(prefix17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(prefix16: str) -> str:
    """A valid USCC from its first 16 characters: appends the organisation-code check character
    (position 17) and the USCC check character (position 18), as subsidyd verifies them.

    ``make_uscc("9144060500000011")`` is a Nanhai (440605) enterprise (``91440605000000115C``);
    positions 3-8 must be digits and every character must be in :data:`USCC_ALPHABET`.
    """
    if len(prefix16) != 16 or any(c not in USCC_ALPHABET for c in prefix16) or not prefix16[2:8].isdigit():
        raise ValueError(f"not a USCC prefix: {prefix16!r}")
    prefix17 = prefix16 + organisation_check_character(prefix16[8:16])
    return prefix17 + uscc_check_character(prefix17)


def uscc_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a USCC subsidyd accepts (naming the 1-based position), or None.

    The checks run in the daemon's order: length, each character (alphabet; digits at 3-8),
    position 18, then position 17. Nothing is normalised: lower case is refused."""
    if len(text) != 18:
        return f"must be 18 characters (got {len(text)})"
    for i, c in enumerate(text, 1):
        if c not in USCC_ALPHABET:
            return f"position {i}: {c!r} is not a code character (0-9 and A-Y without I, O, S, V, Z)"
        if 3 <= i <= 8 and not c.isdigit():
            return f"position {i}: {c!r} must be a digit (positions 3-8 are the administrative division code)"
    expected18 = uscc_check_character(text[:17])
    if text[17] != expected18:
        return f"position 18: check character is {text[17]!r}, positions 1-17 give {expected18!r}"
    expected17 = organisation_check_character(text[8:16])
    if text[16] != expected17:
        return f"position 17: organisation code check character is {text[16]!r}, positions 9-16 give {expected17!r}"
    return None


def uscc_is_valid(text: str) -> bool:
    """Whether ``text`` passes the checks subsidyd applies (length, alphabet, both check characters)."""
    return uscc_problem(text) is None
