"""The real Ollama and OpenAI Python clients against `syllabus serve` (run by tests/clients.rs
in a virtual environment it creates). Usage: clients.py CHECK BASE_URL MODEL; prints one JSON
object with what it measured; an assertion that fails exits non-zero with its message."""
import json
import sys
import threading
import time

SCHEMA = {
    "type": "object",
    "properties": {
        "color": {"type": "string", "minLength": 1, "maxLength": 20},
        "count": {"type": "integer", "minimum": 0, "maximum": 9999},
    },
    "required": ["color", "count"],
    "additionalProperties": False,
}


def check_reply(text):
    """A reply valid against SCHEMA, checked by pydantic (what clients use)."""
    from pydantic import BaseModel, ConfigDict, Field

    class Reply(BaseModel):
        model_config = ConfigDict(extra="forbid")
        color: str = Field(min_length=1, max_length=20)
        count: int = Field(ge=0, le=9999)

    return Reply.model_validate_json(text)


def ollama_checks(url, model):
    import ollama

    client = ollama.Client(host=url)
    names = [m.model for m in client.list().models]
    assert model in names, names
    shown = client.show(model)
    assert shown.details.format == "gguf", shown
    assert shown.details.family, shown

    gen = client.generate(model=model, prompt="Name one color.", options={"num_predict": 12, "seed": 3})
    assert gen.done and gen.response.strip(), gen
    assert gen.eval_count and gen.eval_count <= 12, gen
    assert gen.total_duration > 0 and gen.prompt_eval_count > 0, gen
    assert gen.done_reason in ("stop", "length"), gen

    messages = [{"role": "user", "content": "Name a color and a number, as JSON."}]
    chat = client.chat(model=model, messages=messages, format=SCHEMA, options={"seed": 5, "temperature": 0.7})
    check_reply(chat.message.content)
    assert chat.done_reason == "stop", chat
    assert chat.eval_count > 0 and chat.eval_duration > 0, chat

    pieces, last = [], None
    for part in client.chat(model=model, messages=messages, format=SCHEMA, stream=True, options={"seed": 6}):
        pieces.append(part.message.content)
        last = part
    assert last.done and last.done_reason == "stop", last
    assert len(pieces) > 3, pieces
    check_reply("".join(pieces))

    # Stop strings end the text before them.
    stopped = client.generate(
        model=model, prompt="Count from 1 to 20, separated by commas.", options={"stop": [","], "seed": 1, "num_predict": 40}
    )
    assert "," not in stopped.response, stopped.response

    try:
        client.chat(model="no-such-model:7b", messages=messages)
        raise AssertionError("an unknown model was answered")
    except ollama.ResponseError as e:
        assert e.status_code == 404, e
        assert "not found" in str(e), e
    return {"pieces": len(pieces), "eval_count": chat.eval_count}


def langchain_checks(url, model):
    from langchain_ollama import ChatOllama, OllamaLLM
    from pydantic import BaseModel

    # The old service's call, unchanged but for the base URL.
    llm = OllamaLLM(model=model, base_url=url, num_predict=24)
    text = llm.invoke("Write one sentence about the sea.")
    assert isinstance(text, str) and text.strip(), text

    class Color(BaseModel):
        color: str
        count: int

    # Room for the whole object: cut at 64 tokens, the test model's long "color" left
    # "count" out and LangChain read the partial JSON (seen once in six runs).
    structured = ChatOllama(model=model, base_url=url, num_predict=256).with_structured_output(Color)
    got = structured.invoke("Name a color and a number.")
    assert isinstance(got, Color) and got.color.strip(), got
    return {"invoke_chars": len(text)}


def openai_checks(url, model):
    import openai

    client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key="unused")
    listed = [m.id for m in client.models.list().data]
    assert model in listed, listed
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
    messages = [{"role": "user", "content": "Name a color and a number, as JSON."}]
    done = client.chat.completions.create(model=model, messages=messages, response_format=fmt, seed=2)
    check_reply(done.choices[0].message.content)
    assert done.choices[0].finish_reason == "stop", done
    assert done.usage.completion_tokens > 0 and done.usage.prompt_tokens > 0, done.usage
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens

    pieces, finish, usage = [], None, None
    stream = client.chat.completions.create(
        model=model, messages=messages, response_format=fmt, seed=3, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    check_reply("".join(pieces))
    assert finish == "stop" and usage and usage.completion_tokens > 0, (finish, usage)

    short = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell a long story."}], max_completion_tokens=5
    )
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 5, short
    try:
        client.chat.completions.create(model="gpt-4o", messages=messages)
        raise AssertionError("an unknown model was answered")
    except openai.NotFoundError as e:
        assert "does not exist" in str(e), e
    return {"pieces": len(pieces)}


def concurrent_checks(url, model):
    """Eight ollama.chat calls one after another, then eight at once: seconds of each."""
    import ollama

    def one(i, out):
        client = ollama.Client(host=url)
        r = client.chat(
            model=model,
            messages=[{"role": "user", "content": f"Name color number {i} and a number, as JSON."}],
            format=SCHEMA,
            # Room for the longest reply the schema allows (about 36 tokens at a character a
            # token) and some whitespace, which JSON leaves unbounded: batched and serial
            # logits differ in the last bits, and so may the replies.
            options={"seed": 100 + i, "num_predict": 64, "temperature": 0.7},
        )
        check_reply(r.message.content)
        out[i] = r.eval_count

    counts = [0] * 8
    t = time.monotonic()
    for i in range(8):
        one(i, counts)
    serial = time.monotonic() - t
    at_once = [0] * 8
    threads = [threading.Thread(target=one, args=(i, at_once)) for i in range(8)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    parallel = time.monotonic() - t
    assert all(c > 0 for c in at_once), at_once
    return {"serial_s": serial, "parallel_s": parallel, "serial_tokens": sum(counts), "parallel_tokens": sum(at_once)}


def disconnect_checks(url, model):
    """A streamed chat of up to 4000 tokens dropped after a few pieces: its place is free
    again within seconds (decoding it whole takes half a minute or more here)."""
    import httpx

    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell a very long story about the sea."}],
        "options": {"num_predict": 4000, "seed": 1, "stop": ["no such stop"]},
    }
    base = url.rstrip("/")
    with httpx.Client(timeout=60) as h:
        with h.stream("POST", base + "/api/chat", json=body) as r:
            assert r.status_code == 200, r.status_code
            for n, _ in enumerate(r.iter_lines()):
                if n >= 3:
                    break
        t = time.monotonic()
        running = None
        while time.monotonic() - t < 8:
            running = h.get(base + "/healthz").json()["load"]["running"]
            if running == 0:
                break
            time.sleep(0.1)
        freed = time.monotonic() - t
        assert running == 0, f"the dropped chat still runs after {freed:.1f} s"
    import ollama

    r = ollama.Client(host=url, timeout=120).generate(model=model, prompt="Say hi.", options={"num_predict": 8})
    assert r.done, r
    return {"freed_s": freed}


CHECKS = {
    "ollama": ollama_checks,
    "langchain": langchain_checks,
    "openai": openai_checks,
    "concurrent": concurrent_checks,
    "disconnect": disconnect_checks,
}

if __name__ == "__main__":
    check, url, model = sys.argv[1:4]
    print(json.dumps(CHECKS[check](url, model)))
