"""Signed model releases (cityops.contract.model_release), what the box checks before downloading, and the watch
that rolls a collapsing model back (pure parts; the agent-level runs are in test_edge_remote.py)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityops.contract.model_release import (
    ReleaseSignatureError,
    key_id,
    public_key_text,
    release_statement,
    sign_release,
    verify_release,
)
from edge_agent.config import ConfigError, ModelUpdatesConfig
from edge_agent.model_watch import ModelWatch, Totals
from edge_agent.remote.model_update import ModelUpdateArgs, check_release

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_text(KEY.public_key())
SHA = "ab" * 32


def signed(url: str = "https://hub.example/api/v1/models/x/file", **changes: object) -> ModelUpdateArgs:
    signature, kid = sign_release(KEY, "yolox_nano", "2", SHA, 1234)
    fields = {"name": "yolox_nano", "version": "2", "url": url, "sha256": SHA, "size": 1234, "signature": signature,
              "key_id": kid}  # fmt: skip
    return ModelUpdateArgs.model_validate({**fields, **changes})


def test_a_signature_covers_every_field() -> None:
    signature, kid = sign_release(KEY, "yolox_nano", "2", SHA, 1234)
    assert verify_release([PUBLIC], signature, "yolox_nano", "2", SHA, 1234) == kid == key_id(PUBLIC)
    for changed in (("nanodet", "2", SHA, 1234), ("yolox_nano", "3", SHA, 1234), ("yolox_nano", "2", "cd" * 32, 1234),
                    ("yolox_nano", "2", SHA, 1235)):  # fmt: skip
        with pytest.raises(ReleaseSignatureError, match="matches none"):
            verify_release([PUBLIC], signature, *changed)


def test_statement_fields_cannot_run_into_each_other() -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        release_statement("yolox\nnano", "2", SHA, 1)


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (signed(signature=None), ModelUpdatesConfig(trusted_keys=[PUBLIC]), "not signed"),
        (signed(), ModelUpdatesConfig(), "trusts no model signing key"),
        (signed(version=None), ModelUpdatesConfig(trusted_keys=[PUBLIC]), "no version and size"),
        (signed(signature="!!"), ModelUpdatesConfig(trusted_keys=[PUBLIC]), "not base64"),
        (signed("http://hub.example/m"), ModelUpdatesConfig(trusted_keys=[PUBLIC]), "plain http are refused"),
    ],
)
def test_releases_the_box_refuses_before_downloading(
    args: ModelUpdateArgs, config: ModelUpdatesConfig, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_release(args, config)


def test_releases_the_box_accepts() -> None:
    assert check_release(signed(), ModelUpdatesConfig(trusted_keys=[PUBLIC])) == f"signed by key {key_id(PUBLIC)}"
    local = ModelUpdatesConfig(trusted_keys=[PUBLIC], allow_http=True)
    assert check_release(signed("http://127.0.0.1:8765/m"), local).startswith("signed")
    lax = ModelUpdatesConfig(allow_unsigned=True)
    assert check_release(signed(signature=None), lax) == "unsigned (model_updates.allow_unsigned)"


def test_trusted_keys_must_be_ed25519_public_keys() -> None:
    with pytest.raises((ValueError, ConfigError), match="32"):
        ModelUpdatesConfig(trusted_keys=["AAAA"])


def watch(baseline: float | None) -> ModelWatch:
    return ModelWatch(baseline, Totals(1000, 5000), rollback_below=0.3, watch_frames=100, min_baseline=0.2)


def test_a_collapsing_model_is_rolled_back_and_a_good_one_kept() -> None:
    collapsing, good = watch(5.0), watch(5.0)
    assert collapsing.observe(Totals(1050, 5000)) == "watching"  # not enough frames yet
    assert collapsing.observe(Totals(1100, 5100)) == "rolled_back"  # 1 per frame against 5: under 30 %
    assert good.observe(Totals(1100, 5400)) == "kept"  # 4 per frame
    assert collapsing.report() == {"verdict": "rolled_back", "baseline_per_frame": 5.0, "new_per_frame": 1.0}


def test_a_thin_baseline_cannot_accuse_a_new_model() -> None:
    assert watch(0.05).verdict == "not_judged" and watch(None).verdict == "not_judged"
    assert watch(0.05).observe(Totals(5000, 5000)) == "not_judged"
