"""`Check` and `Verdict`: the Rust classes every verifier returns."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from openpcc.attestation import tpm
from openpcc.attestation.verdict import Check, Verdict

from tests.support.vectors import load_json, read_bytes


def _gce_quote_verdict(nonce: bytes = b"\x90\x09") -> Verdict:
    quote = load_json("tpm", "expected.json")["quotes"][2]
    bank = next(b for b in quote["banks"] if b["bank"] == "sha256")
    return tpm.verify_quote(
        read_bytes("tpm", bank["quote"]),
        read_bytes("tpm", bank["signature"]),
        read_bytes("tpm", quote["extracted_files"]["ak_pub"]),
        nonce=nonce,
        pcrs={int(k): bytes.fromhex(v) for k, v in bank["pcr_values"].items()},
    )


def test_check_is_an_immutable_value() -> None:
    check = Check("tpm.quote.nonce", True, "it's equal")
    assert (check.name, check.ok, check.detail) == ("tpm.quote.nonce", True, "it's equal")
    assert check == Check("tpm.quote.nonce", True, "it's equal")
    assert check != Check("tpm.quote.nonce", False, "it's equal")
    assert hash(check) == hash(Check("tpm.quote.nonce", True, "it's equal"))
    assert repr(check) == "Check(name='tpm.quote.nonce', ok=True, detail=\"it's equal\")"
    with pytest.raises(AttributeError):
        check.ok = False  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(check)) == check


def test_validity_needs_one_check_and_no_failure() -> None:
    assert not Verdict(())
    assert not Verdict([]).valid
    passed, failed = Check("a", True, "fine"), Check("b", False, "mismatch")
    assert Verdict([passed]).valid and bool(Verdict((passed,)))
    mixed = Verdict((passed, failed), {"x": 1})
    assert not mixed.valid
    assert mixed.failures == (failed,)
    assert mixed.checks == (passed, failed)
    assert mixed.claims == {"x": 1}
    assert Verdict((passed,)).claims == {}


def test_only_checks_are_accepted() -> None:
    with pytest.raises(TypeError):
        Verdict([("a", True, "fine")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Verdict([Check("a", True, "fine")], claims=[1])  # type: ignore[arg-type]


def test_from_json_reads_the_cli_shape_back() -> None:
    verdict = _gce_quote_verdict()
    text = json.dumps(verdict.to_dict())
    again = Verdict.from_json(text)
    assert again == verdict
    assert again.to_dict() == json.loads(text)
    with pytest.raises(ValueError, match="verdict json"):
        Verdict.from_json('{"checks": [{"name": "a"}]}')


def test_claims_from_the_core_are_built_once_and_match_json() -> None:
    verdict = _gce_quote_verdict()
    assert verdict.valid
    claims = verdict.claims
    assert claims is verdict.claims
    assert claims["nonce"] == "9009"
    assert claims["pcrs"]["bank"] == "sha256"
    assert sorted(int(i) for i in claims["pcrs"]["values"]) == list(range(24))
    assert claims["pcr_selection"] == [{"hash": 0x000B, "pcrs": list(range(24))}]
    assert json.loads(json.dumps(claims)) == claims


def test_verdicts_compare_by_value_and_survive_pickle_and_copy() -> None:
    good, stale = _gce_quote_verdict(), _gce_quote_verdict(b"\x00")
    assert good == _gce_quote_verdict()
    assert good != stale and good != "not a verdict"
    assert [c.name for c in stale.failures] == ["tpm.quote.nonce"]
    for clone in (pickle.loads(pickle.dumps(stale)), copy.deepcopy(stale)):
        assert clone == stale and not clone.valid
    assert "failures=(Check(name='tpm.quote.nonce'" in repr(stale)


def test_pcr_selection_detail_names_index_ranges() -> None:
    detail = next(c.detail for c in _gce_quote_verdict().checks if c.name == "tpm.quote.pcr_selection")
    assert detail == "quote selects [sha256:[0-23]]; values given for sha256:[0-23]"
