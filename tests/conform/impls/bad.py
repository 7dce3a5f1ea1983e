"""Implementations that cannot be tested, one per kind of bad input (tests/test_conform_bad_input.py)."""

import time

NOT_A_FUNCTION = 3


def raises(case):
    return {"equity": str(1 / 0)}


def wrong_type(case):
    return ["equity", 1]


def missing_output(case):
    return {"margin_balance": "1"}


def not_a_number(case):
    return {"equity": "twelve"}


def flag_as_number(case):
    return {"equity": "0", "liquidatable": 7}


def hangs(case):
    while True:
        pass


def sleeps(case):
    time.sleep(30)
