from __future__ import annotations

import pytest

from evals.safety.pii import PiiMatch, find_pii, has_pii, is_valid_cn_id, luhn_ok, redact

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_char(first17: str) -> str:
    """Computed here, independently of the module, from GB 11643-1999."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def make_id(first17: str) -> str:
    return first17 + check_char(first17)


def flip(cn_id: str) -> str:
    wrong = next(c for c in "0123456789X" if c != cn_id[-1])
    return cn_id[:-1] + wrong


def kinds(text: str) -> list[str]:
    return [m.kind for m in find_pii(text)]


@pytest.mark.parametrize("first17", ["11010519491231002", "44030419900307123", "32010620001229456",
                                     "51010720240229001"])
def test_valid_cn_ids_are_found(first17):
    cn_id = make_id(first17)
    text = f"他的身份证号是{cn_id}，请核实。"
    found = find_pii(text)
    assert found == [PiiMatch("cn_id", cn_id, text.index(cn_id), text.index(cn_id) + 18)]
    assert is_valid_cn_id(cn_id)


@pytest.mark.parametrize("first17", ["11010519491231002", "44030419900307123", "32010620001229456"])
def test_wrong_check_digit_is_not_an_id(first17):
    bad = flip(make_id(first17))
    assert not is_valid_cn_id(bad)
    assert "cn_id" not in kinds(f"ID: {bad}")


def test_x_check_character_either_case():
    first17 = next(f17 for f17 in (f"11010519900101{n:03d}" for n in range(1000)) if check_char(f17) == "X")
    upper = first17 + "X"
    assert is_valid_cn_id(upper) and is_valid_cn_id(first17 + "x")
    assert find_pii(f"证件 {upper} 已登记")[0].value == upper
    assert find_pii(f"证件 {first17}x 已登记")[0].kind == "cn_id"


@pytest.mark.parametrize("first17", ["11010519990230123",   # 30 February
                                     "11010519991301123",   # month 13
                                     "11010518991231123",   # before 1900
                                     "01010519900101123",   # area code starting with 0
                                     "91010519900101123"])  # area code starting with 9
def test_impossible_dates_and_areas_are_rejected_even_with_right_check(first17):
    cn_id = make_id(first17)
    assert not is_valid_cn_id(cn_id)
    assert "cn_id" not in kinds(f"号码 {cn_id}")


def test_id_inside_longer_digit_run_is_ignored():
    cn_id = make_id("11010519491231002")
    assert "cn_id" not in kinds(f"订单号 9{cn_id} 已发货")
    assert "cn_id" not in kinds(f"订单号 {cn_id}7 已发货")


def test_valid_id_is_not_also_a_bank_card():
    # find an ID that happens to pass Luhn too: it must be reported once, as cn_id
    ids = (make_id(f"11010519900101{n:03d}") for n in range(1000))
    cn_id = next(i for i in ids if i[-1] != "X" and luhn_ok(i))
    assert kinds(f"号码：{cn_id}") == ["cn_id"]


@pytest.mark.parametrize("phone", ["13812345678", "+8613812345678", "+86 138 1234 5678", "86-138-1234-5678",
                                   "138-1234-5678", "199 0000 1111", "+86 19912345678"])
def test_mobile_numbers(phone):
    text = f"联系电话：{phone}。"
    found = find_pii(text)
    assert [(m.kind, m.value) for m in found] == [("cn_mobile", phone)]


@pytest.mark.parametrize("text", ["12812345678",           # second digit 2
                                  "1381234567",            # 10 digits
                                  "213812345678",          # inside a longer run (left)
                                  "138123456789",          # inside a longer run (right)
                                  "138 12345678 9"])
def test_not_mobile_numbers(text):
    assert "cn_mobile" not in kinds(text)


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1111",
                                  "5500 0000 0000 0004", "6222021234567890128", "378282246310005"])
def test_luhn_valid_cards(card):
    assert luhn_ok(card.replace(" ", "").replace("-", ""))
    assert [(m.kind, m.value) for m in find_pii(f"card: {card}, exp 12/27")] == [("bank_card", card)]


@pytest.mark.parametrize("text", ["4111 1111 1111 1112", "4111111111111112", "6222021234567890127",
                                  "00004111111111111111",          # a valid card inside a longer run
                                  "4111111111111111000",           # ... and followed by more digits
                                  "1234 4111 1111 1111 1111",      # a fifth group makes it something else
                                  "order 41111111111111110000"])
def test_not_cards(text):
    assert "bank_card" not in kinds(text)


@pytest.mark.parametrize("email", ["alice@example.com", "bob.smith+news@mail.example.co.uk", "wang_li@qq.com",
                                   "x-y%z@sub-domain.example.org"])
def test_emails(email):
    text = f"请发邮件到{email}联系我。"
    assert [(m.kind, m.value) for m in find_pii(text)] == [("email", email)]


@pytest.mark.parametrize("text", ["not an email: alice@", "@example.com", "a@b", "version 1.2@3.4"])
def test_not_emails(text):
    assert "email" not in kinds(text)


def test_clean_text_has_no_pii():
    text = "The meeting is on 2024-05-01 at 10:30; call extension 1234 or see page 42."
    assert find_pii(text) == [] and not has_pii(text)


def test_redact_replaces_every_match_in_place():
    cn_id = make_id("44030419900307123")
    text = f"姓名张三，身份证{cn_id}，手机+86 138 1234 5678，邮箱zs@example.com，卡号4111 1111 1111 1111。"
    assert has_pii(text)
    assert kinds(text) == ["cn_id", "cn_mobile", "email", "bank_card"]
    assert redact(text) == "姓名张三，身份证[CN_ID]，手机[CN_MOBILE]，邮箱[EMAIL]，卡号[BANK_CARD]。"
    assert redact("nothing here") == "nothing here"


def test_matches_are_frozen_and_ordered():
    found = find_pii("a@example.com then 13812345678")
    assert [m.start for m in found] == sorted(m.start for m in found)
    with pytest.raises(Exception):
        found[0].kind = "x"  # type: ignore[misc]
