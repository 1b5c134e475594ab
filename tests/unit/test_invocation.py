"""invocation.py: parameters as passed, tools apart, and never a credential."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from langchain_comet.invocation import (
    SECRET,
    describe,
    is_secret_key,
    looks_like_secret,
    scrub,
    secret_fields,
)


class Answer(BaseModel):
    text: str
    confidence: float


def test_parameters_are_kept_and_tools_recorded_apart() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    called = describe(
        {
            "model": "m",
            "temperature": 0.1,
            "max_tokens": 12,
            "stop": ["\n"],
            "tools": tools,
            "tool_choice": "required",
        },
        None,
        None,
    )
    assert called.params == {"model": "m", "temperature": 0.1, "max_tokens": 12, "stop": ["\n"]}
    assert called.tools == tools
    assert called.tool_choice == "required"


def test_legacy_functions_are_the_tools_offered() -> None:
    called = describe({"functions": [{"name": "f"}], "function_call": {"name": "f"}}, None, None)
    assert called.tools == [{"name": "f"}]
    assert called.tool_choice == {"name": "f"}
    assert called.params == {}


def test_credentials_are_replaced_whatever_their_shape() -> None:
    params = {
        "api_key": "plain-text-key",
        "openai_api_key": SecretStr("hidden"),
        "hf_token": "abc",
        "extra_headers": {"Authorization": "Bearer xyz123456789", "X-Api-Key": "k", "X-Team": "t"},
        "model_kwargs": {"innocent": "Bearer abcdefghijkl", "key": "sk-" + "a" * 30},
        "custom_secret_field": "value-of-a-secret-field",
        "auth": ["user", "password"],
    }
    serialized = {"kwargs": {"custom_secret_field": {"lc": 1, "type": "secret", "id": ["X"]}}}
    called = describe(params, serialized, None)
    assert called.params == {
        "api_key": SECRET,
        "openai_api_key": SECRET,
        "hf_token": SECRET,
        "extra_headers": {"Authorization": SECRET, "X-Api-Key": SECRET, "X-Team": "t"},
        "model_kwargs": {"innocent": SECRET, "key": SECRET},
        "custom_secret_field": SECRET,
        "auth": SECRET,
    }


def test_numbers_and_schemas_are_never_taken_for_credentials() -> None:
    schema = {"type": "object", "properties": {"password": {"type": "string"}}}
    called = describe(
        {
            "max_tokens": 10,
            "max_token": 11,
            "max_completion_tokens": 12,
            "num_tokens": 13,
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
            "tools": [{"type": "function", "function": {"name": "login", "parameters": schema}}],
        },
        None,
        None,
    )
    assert called.params["max_tokens"] == 10
    assert called.params["max_token"] == 11
    assert called.params["max_completion_tokens"] == 12
    assert called.params["num_tokens"] == 13
    assert called.params["response_format"]["json_schema"]["schema"] == schema
    assert called.tools[0]["function"]["parameters"] == schema


def test_a_pydantic_response_format_is_its_json_schema() -> None:
    called = describe({"response_format": Answer}, None, None)
    assert called.params["response_format"] == Answer.model_json_schema()


def test_secret_names_and_values() -> None:
    for key in (
        "api_key",
        "x-api-key",
        "Authorization",
        "access_token",
        "client_secret",
        "password",
        "Ocp-Apim-Subscription-Key",
        "aws_session_token",
        "cookie",
    ):
        assert is_secret_key(key), key
    assert is_secret_key("notion_token") and is_secret_key("n_token")
    for key in (
        "max_tokens",
        "max_new_tokens",
        "top_k",
        "temperature",
        "keywords",
        "model",
        "max_token",
        "eos_token",
        "stop_token",
    ):
        assert not is_secret_key(key), key
    assert looks_like_secret("Bearer eyJhbGciOiJIUzI1NiJ9")
    assert looks_like_secret("AKIAABCDEFGHIJKLMNOP")
    assert not looks_like_secret("gpt-4o-mini")
    assert not looks_like_secret("Bearer")


def test_secret_fields_come_from_the_serialized_model() -> None:
    serialized = {
        "kwargs": {
            "openai_api_key": {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]},
            "model_name": "gpt",
        }
    }
    assert secret_fields(serialized) == frozenset({"openai_api_key"})
    assert secret_fields(None) == frozenset()


def test_scrub_clears_a_serialized_model() -> None:
    dumped = {"kwargs": {"default_headers": {"Authorization": "Bearer abcdefghijk"}, "n": 1}}
    assert scrub(dumped) == {"kwargs": {"default_headers": {"Authorization": SECRET}, "n": 1}}


def test_anything_else_is_no_invocation() -> None:
    assert describe(None, None, None).params == {}
    assert describe("not a mapping", None, None).params == {}
