"""Magpie (arXiv 2406.08464): pre-query prefix as a raw completion, echo rejection, turns."""

from __future__ import annotations

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    TokenUsage,
)
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.templates import KNOWN_CHATML_MODELS, chatml_pre_query_template
from synthloom.operators.instruct.magpie import (
    Magpie,
    end_of_turn,
    template_echo,
    user_turn_opens,
)
from tests.unit.scripted import ScriptedBackend

QWEN = "qwen2.5-0.5b-instruct"
SYSTEM = "You are a helpful assistant."


def scripted(query="How do I sort a list of numbers?", answer="Use sorted(numbers).",
             model=QWEN, **kwargs) -> ScriptedBackend:
    """Completions answer ``query``, chats ``answer`` (values or functions of the request)."""
    def respond(request):
        value = query if isinstance(request, CompletionRequest) else answer
        return value(request) if callable(value) else value
    return ScriptedBackend(respond, model=model, **kwargs)


class TemplateBackend(ScriptedBackend):
    """A scripted backend that renders its own pre-query template (like llama.cpp's)."""

    def __init__(self, render, **kwargs) -> None:
        super().__init__(lambda r: "How do I sort a list of numbers?", **kwargs)
        self.render, self.rendered = render, []

    def pre_query_template(self, system):
        self.rendered.append(system)
        return self.render(system)


class ChatOnly:
    """A backend with chat() only (no raw completions)."""

    def __init__(self) -> None:
        self.identity = BackendIdentity(backend="openai_http", model="chat-only-7b")
        self.usage = TokenUsage()

    def chat(self, requests):
        return [ChatResponse(text="x") for _ in requests]

    def close(self) -> None:
        pass


def test_the_query_request_is_the_prefix_with_the_end_of_turn_stop():
    backend = scripted()
    (result,) = Magpie(backend, system=SYSTEM).run(["k1"])
    query, chat = backend.requests
    assert isinstance(query, CompletionRequest)
    assert query.prompt == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                            "<|im_start|>user\n")
    assert query.sampling.stop == ("<|im_end|>",)
    assert (query.sampling.temperature, query.sampling.top_p, query.sampling.max_tokens) == (
        1.0, 1.0, 160)
    assert isinstance(chat, ChatRequest)
    assert chat.messages == ({"role": "system", "content": SYSTEM},
                             {"role": "user", "content": "How do I sort a list of numbers?"})
    assert (chat.sampling.temperature, chat.sampling.max_tokens) == (0.7, 512)
    assert result.reason is None and result.messages == [
        {"role": "user", "content": "How do I sort a list of numbers?"},
        {"role": "assistant", "content": "Use sorted(numbers)."}]
    assert (result.query_tokens, result.response_tokens) == (8, 2)


def test_without_a_system_message_the_template_default_is_kept_and_none_is_sent():
    backend = scripted(query="  What is a good user interface?\n",
                       answer=" One you need not learn. ")
    (result,) = Magpie(backend).run(["k1"])
    query, chat = backend.requests
    assert query.prompt == chatml_pre_query_template(KNOWN_CHATML_MODELS["qwen2.5"])
    assert [m["role"] for m in chat.messages] == ["user"]
    assert result.messages[0]["content"] == "What is a good user interface?"
    assert result.messages[1]["content"] == "One you need not learn."


@pytest.mark.parametrize("query", [
    "<|im_start|>user\nHow do I bake bread at home?",
    "How do I bake bread?<|im_end|>",
    "<|endoftext|>What is two plus two?",
    "[INST] Tell me a joke please",
    "<<SYS>>Tell me a joke please",
    "<|user|> Tell me a joke please",
    "user\nHow do I bake bread at home?",
    "Assistant: How can I help you today?",
    "System: be brief and kind to people",
    "You are a helpful assistant.",
    "you are a   HELPFUL assistant",
])
def test_an_echoed_template_in_the_query_is_rejected(query):
    backend = scripted(query=query)
    (result,) = Magpie(backend, system=SYSTEM).run(["k1"])
    assert result.messages is None
    assert result.reason.startswith("template echoed: ")
    assert backend.batches == [1]  # no answer asked for a rejected query


def test_an_echoed_template_in_the_response_is_rejected():
    answer = "Use sorted().<|im_end|>\n<|im_start|>user\nThanks"
    (result,) = Magpie(scripted(answer=answer), system=SYSTEM).run(["k1"])
    assert result.messages is None and result.reason == "template echoed: markup '<|im_start|>'"
    (result,) = Magpie(scripted(answer="Assistant:\nUse sorted()."), system=SYSTEM).run(["k"])
    assert result.reason == "template echoed: role line 'Assistant'"


@pytest.mark.parametrize("query", ["System design: how do I shard a table?",
                                   "Can the user of a helpful assistant be anonymous?"])
def test_role_words_inside_a_query_are_not_echoes(query):
    (result,) = Magpie(scripted(query=query), system=SYSTEM).run(["k1"])
    assert result.reason is None and result.messages[0]["content"] == query


def test_the_persona_system_message_echoed_is_rejected():
    (result,) = Magpie(scripted(query="The user is a retired nurse."), system=SYSTEM).run(
        ["k1"], personas=["a retired nurse"])
    assert result.reason == "template echoed: the system message"


def test_the_template_default_system_message_echoed_is_rejected():
    (result,) = Magpie(scripted(query="You are Qwen, created by Alibaba Cloud.")).run(["k1"])
    assert result.reason == "template echoed: the system message"


@pytest.mark.parametrize(("query", "answer", "reason"), [
    (ChatResponse(text="Write me a long essay about", finish_reason="length"), "ok",
     "query cut off at max_tokens (160)"),
    ("   ", "ok", "empty query"),
    ("Hi there", "ok", "query too short (2 words)"),
    ("How do I sort a list?", "  \n", "empty response"),
    ("How do I sort a list?", ChatResponse(text="First, you", finish_reason="length"),
     "response cut off at max_tokens (512)"),
])
def test_bad_queries_and_answers_are_rejected_with_their_reason(query, answer, reason):
    backend = scripted(query=query, answer=answer)
    (result,) = Magpie(backend).run(["k1"])
    assert (result.messages, result.reason) == (None, reason)
    assert result.query_tokens == len(getattr(query, "text", query).split())


def test_multi_turn_builds_the_next_prompt_from_the_conversation():
    def query(request):
        return ("  How do I boil an egg?\n" if request.prompt.count("<|im_start|>user") == 1
                else "And for a soft yolk?")

    def answer(request):
        return "Boil it for nine minutes." if len(request.messages) == 2 else "Six minutes."

    backend = scripted(query=query, answer=answer)
    (result,) = Magpie(backend, system=SYSTEM, turns=2).run(["k1"])
    prefix = chatml_pre_query_template(SYSTEM)
    q1, a1, q2, a2 = backend.requests
    assert q2.prompt == (prefix + "How do I boil an egg?<|im_end|>\n<|im_start|>assistant\n"
                         "Boil it for nine minutes.<|im_end|>\n<|im_start|>user\n")
    assert q2.sampling.stop == ("<|im_end|>",) and q2.sampling.seed != q1.sampling.seed
    assert [m["role"] for m in a2.messages] == ["system", "user", "assistant", "user"]
    assert result.messages == [
        {"role": "user", "content": "How do I boil an egg?"},
        {"role": "assistant", "content": "Boil it for nine minutes."},
        {"role": "user", "content": "And for a soft yolk?"},
        {"role": "assistant", "content": "Six minutes."}]


def test_a_rejection_in_a_later_turn_names_the_turn():
    def query(request):
        return ("How do I boil an egg?" if "<|im_start|>assistant" not in request.prompt
                else "Ok")

    (result,) = Magpie(scripted(query=query), turns=2).run(["k1"])
    assert (result.messages, result.reason) == (None, "query too short (1 word) (turn 2)")


def test_turns_need_a_chatml_template():
    backend = TemplateBackend(lambda system: "<s>[INST] ")
    Magpie(backend)  # one turn is fine
    with pytest.raises(UserInputError, match="needs a ChatML template"):
        Magpie(backend, turns=2)


def test_queries_and_answers_go_in_one_batch_per_turn():
    def query(request):
        return "Hi" if request.sampling.seed == bad_seed else "How do I sort a list?"

    keys = ["a", "b", "c"]
    backend = scripted(query="How do I sort a list?")
    Magpie(backend, turns=2).run(keys)
    assert backend.batches == [3, 3, 3, 3]
    seeds = [r.sampling.seed for r in backend.requests]
    assert len(set(seeds)) == len(seeds)
    bad_seed = backend.requests[1].sampling.seed  # key "b", turn 1, query
    backend = scripted(query=query)
    results = Magpie(backend, turns=2).run(keys)
    assert backend.batches == [3, 2, 2, 2]
    assert [r.reason is None for r in results] == [True, False, True]
    again = scripted()
    Magpie(again, turns=2).run(keys, attempt=1)
    assert again.requests[0].sampling.seed != seeds[0]


def test_a_backend_without_raw_completions_is_refused_naming_the_model(tmp_path):
    with pytest.raises(UserInputError, match="'chat-only-7b' cannot continue raw text"):
        Magpie(ChatOnly())
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with pytest.raises(UserInputError, match="chat-only-7b"):
        Magpie(CachedBackend(ChatOnly(), cache))
    inner = scripted()
    cached = CachedBackend(inner, cache)
    Magpie(cached).run(["k1"])
    Magpie(cached).run(["k1"])  # the second run is answered from the cache
    assert (cached.misses, cached.hits, len(inner.requests)) == (2, 2, 2)


def test_an_unknown_model_is_refused_naming_it():
    with pytest.raises(UserInputError) as error:
        Magpie(scripted(model="llama-3-8b"))
    assert "no usable pre-query template for Magpie" in str(error.value)
    assert "llama-3-8b" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("prefix", ["", "  \n",
                                    "<|im_start|>system\nHi<|im_end|>\n<|im_start|>assistant\n",
                                    "<|im_start|>system\nHelp the user.<|im_end|>\n"])
def test_a_prefix_that_does_not_open_a_user_turn_is_refused(prefix):
    with pytest.raises(UserInputError, match="no usable pre-query template"):
        Magpie(TemplateBackend(lambda system: prefix))


def test_user_turn_openers_of_common_templates():
    assert user_turn_opens("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n")
    assert user_turn_opens("<bos><start_of_turn>user\n")
    assert user_turn_opens("<|user|>\n")
    assert user_turn_opens("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\n")
    assert user_turn_opens("Human: ")
    assert not user_turn_opens("<s>[INST] Hi [/INST]")
    assert not user_turn_opens("<start_of_turn>model\n")
    assert end_of_turn("<|start_header_id|>user<|end_header_id|>\n\n") == "<|eot_id|>"
    assert end_of_turn("Human: ") is None


def test_an_unknown_template_relies_on_eos():
    backend = TemplateBackend(lambda system: "Human: ")
    Magpie(backend).run(["k1"])
    assert backend.requests[0].prompt == "Human: " and backend.requests[0].sampling.stop == ()


def test_personas_change_the_system_message_and_the_prefix():
    backend = TemplateBackend(chatml_pre_query_template, model=QWEN)
    results = Magpie(backend, system=SYSTEM).run(
        ["a", "b", "c"], personas=["a retired nurse", None, "a retired nurse"])
    persona_system = "You are a helpful assistant. The user is a retired nurse."
    prompts = [r.prompt for r in backend.requests if isinstance(r, CompletionRequest)]
    assert prompts == [chatml_pre_query_template(persona_system),
                       chatml_pre_query_template(SYSTEM),
                       chatml_pre_query_template(persona_system)]
    assert backend.rendered == [SYSTEM, persona_system]  # once per distinct system message
    chats = [r for r in backend.requests if isinstance(r, ChatRequest)]
    assert chats[0].messages[0] == {"role": "system", "content": persona_system}
    assert [r.persona for r in results] == ["a retired nurse", None, "a retired nurse"]
    assert results[0].system == persona_system and results[1].system == SYSTEM


def test_the_persona_template_may_use_the_system_argument():
    backend = scripted()
    op = Magpie(backend, system="Be brief.",
                templates={"persona_system": "{system} You talk to {persona}."})
    (result,) = op.run(["k"], personas=["a farmer"])
    assert backend.requests[0].prompt == chatml_pre_query_template(
        "Be brief. You talk to a farmer.")
    with pytest.raises(ValueError, match="2 personas for 1 keys"):
        op.run(["k"], personas=["a", "b"])


def test_a_backend_error_is_raised():
    backend = scripted(query=BackendError("server down"))
    with pytest.raises(BackendError, match="server down"):
        Magpie(backend).run(["k1"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="turns"):
        Magpie(scripted(), turns=0)
    with pytest.raises(ValueError, match="token caps"):
        Magpie(scripted(), max_query_tokens=0)


def test_a_query_about_html_strikethrough_is_not_an_echo():
    assert template_echo("Why does <s>old</s> render crossed out in HTML?", None) is None
