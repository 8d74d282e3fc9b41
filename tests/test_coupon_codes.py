"""Coupon codes: random, typable, with a check symbol that catches typos (no database)."""

from __future__ import annotations

from solomo.coupons import codes


def test_codes_are_well_formed_and_displayed_in_groups() -> None:
    made = {codes.new_coupon_code() for _ in range(2000)}
    assert len(made) == 2000
    for code in made:
        assert len(code) == 12
        assert codes.is_well_formed(code)
        shown = codes.display(code)
        assert len(shown) == 14
        assert shown.count("-") == 2
        assert codes.normalize(shown.lower()) == code
        assert codes.normalize(codes.qr_payload(code)) == code
    assert codes.COUPON_SYMBOLS * 5 >= 50  # bits of randomness


def test_every_single_typo_is_caught() -> None:
    code = codes.new_coupon_code()
    for position in range(len(code)):
        for symbol in codes.ALPHABET:
            if symbol != code[position]:
                typo = code[:position] + symbol + code[position + 1 :]
                assert not codes.is_well_formed(typo), (code, typo)


def test_most_swaps_of_neighbours_are_caught() -> None:
    caught = total = 0
    for _ in range(300):
        code = codes.new_coupon_code()
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                total += 1
                caught += not codes.is_well_formed(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
    assert caught / total > 0.9


def test_people_may_type_lookalikes_hyphens_and_spaces() -> None:
    assert codes.normalize(" abcd-ef0o 1il ") == "ABCDEF00111"
    assert not codes.is_well_formed("")
    assert not codes.is_well_formed("U" * 12)  # U is not a Crockford symbol
