"""What of a run's config reaches logs, W&B and job keys: settings kept, secrets removed."""

from __future__ import annotations

from omegaconf import OmegaConf

from hins.core.artifacts import config_key
from hins.core.logging_utils import loggable_config, override_secret, scrub, secret_problem

KEY = "sk-live-DO-NOT-LEAK-7a2b"


def _cfg(**synthesis):
    return OmegaConf.create({"synthesis": {"max_tokens": 4096, "api_key_env": "OPENAI_API_KEY", **synthesis},
                             "hydra": {"run": {"dir": "x"}}})


def test_settings_named_like_secrets_are_kept():
    out = loggable_config(_cfg(max_passage_length=64, tokenizer="bert", hf_token_env="HF_TOKEN"))
    assert out == {"synthesis": {"max_tokens": 4096, "api_key_env": "OPENAI_API_KEY", "max_passage_length": 64,
                                 "tokenizer": "bert", "hf_token_env": "HF_TOKEN"}}


def test_secrets_are_redacted_at_any_depth():
    out = loggable_config({"api_key": KEY, "wandb": {"apiKey": KEY, "auth": [{"access_token": KEY}]},
                           "db": {"password": KEY, "client-secret": KEY, "token": None}})
    assert KEY not in str(out)
    assert out["wandb"]["auth"][0]["access_token"] == "<redacted>" and out["db"]["token"] is None


def test_url_credentials_and_secret_query_parameters_are_stripped():
    url = f"https://user:{KEY}@proxy.example:8443/v1?api-key={KEY}&region=eu&key=abc#top"
    out = loggable_config({"llm": {"base_url": url, "mirrors": [url]}})
    assert out["llm"]["base_url"] == "https://proxy.example:8443/v1?region=eu#top"
    assert out["llm"]["mirrors"] == [out["llm"]["base_url"]]
    plain = "http://h/v1?a=1%202&b"  # nothing to strip: kept as written, so job keys do not move
    assert loggable_config({"u": plain, "path": "data/x.json"}) == {"u": plain, "path": "data/x.json"}


def test_a_key_pasted_as_a_plain_value_is_redacted():
    assert KEY not in str(loggable_config({"llm": {"note": f"uses {KEY}"}}))


def test_job_keys_follow_every_setting_that_changes_the_results():
    a, b = loggable_config(_cfg()), loggable_config(_cfg(max_tokens=256))
    assert config_key("job", a) != config_key("job", b)
    # A different key, given in the URL, is not a different job.
    assert config_key("job", loggable_config(_cfg(base_url=f"https://u:{KEY}@h/v1"))) == \
        config_key("job", loggable_config(_cfg(base_url="https://u:sk-other-key-000000@h/v1")))


def test_scrub_removes_the_given_key_and_key_shaped_text():
    assert scrub(f"401: Incorrect API key provided: {KEY}", KEY) == "401: Incorrect API key provided: <redacted>"
    assert scrub("Bearer local-token-123 and sk-proj-abcdefgh12", "local-token-123") == \
        "Bearer <redacted> and <redacted>"
    assert scrub("none of it", "") == "none of it"


def test_secret_problem_tells_variable_names_from_keys():
    for name in ("OPENAI_API_KEY", "hf_token", "MY_LLM_KEY_2", "HfToken", "_X", "AZURE_OPENAI_API_KEY_2024"):
        assert secret_problem("synthesis.api_key_env", name) is None, name
    for key in ("sk-proj-abc", "hf_AbCdEfGhIjKlMnOpQrStUvWx12", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStU",
                "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuV", "my key", "abc:def", "0PENAI"):
        assert secret_problem("llm.api_key_env", key) == "looks like an API key, not the name of an environment " \
                                                         "variable", key
    assert secret_problem("topics.base_url", "https://u:p@h/v1") is not None
    assert secret_problem("topics.base_url", "https://h/v1?key=abc") is not None
    assert secret_problem("topics.base_url", "https://h:8443/v1?api-version=2") is None
    assert secret_problem("+synthesis.api_key", "abc") == "is a secret"
    assert secret_problem("model.path", "/data/models/bge") is None and secret_problem("seed", 3) is None


def test_an_override_holding_a_secret_is_refused_without_quoting_it():
    for arg in ("synthesis.base_url=http://user:hunter2@h/v1", f"+llm.api_key={KEY}", f"queries.api_key_env={KEY}",
                "-m", "topics.base_url=http://a/v1,http://u:hunter2@b/v1", f"hydra.job.env_set.OPENAI_API_KEY={KEY}"):
        refusal = override_secret(arg)
        assert (refusal is None) == (arg == "-m"), arg
        assert refusal is None or ("hunter2" not in refusal and KEY not in refusal and "api_key_env" in refusal)
    assert override_secret("synthesis.base_url=${oc.env:LLM_URL}") is None  # the schema checks what it resolves to
    assert override_secret("synthesis.api_key_env=LOCAL_KEY") is None
