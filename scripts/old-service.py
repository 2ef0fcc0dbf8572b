#!/usr/bin/env python3
"""What the old syllabus service did, through LangChain's Ollama client, unchanged:
one outline call, then one call per module, in sequence. Point it at `syllabus serve`
(or an Ollama daemon) with only the base URL:

    python3 scripts/old-service.py --base-url http://127.0.0.1:8080 --model qwen2:1.5b \
        "Introduction to Marine Biology" --modules 4

Needs `pip install langchain-ollama`. Prints the course as JSON and each call's seconds on
stderr; exits 1 when a call fails or the outline names no modules.
"""
import argparse
import json
import re
import sys
import time

from langchain_ollama import OllamaLLM


def outline_prompt(topic, modules):
    return (
        f"You are planning a course called '{topic}'. List exactly {modules} module titles, "
        "one per line, numbered 1., 2., and so on. Write only the list."
    )


def module_prompt(topic, title):
    return (
        f"Course: {topic}. Write the module '{title}': a two-sentence summary, then three "
        "learning objectives, then two activities. Plain text."
    )


def titles_of(text, modules):
    found = []
    for line in text.splitlines():
        m = re.match(r"\s*(?:\d+[.)]|[-*])\s*(.+)", line)
        if m and m.group(1).strip():
            found.append(m.group(1).strip().strip("*").strip())
    if not found:
        # A small model may not number its lines: each line is a title then.
        found = [line.strip() for line in text.splitlines() if line.strip()]
    return found[:modules]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("topic")
    ap.add_argument("--modules", type=int, default=4)
    ap.add_argument("--model", default="qwen2:1.5b")
    ap.add_argument("--base-url", default="http://127.0.0.1:11434")
    ap.add_argument("--num-predict", type=int, default=None)
    args = ap.parse_args()
    # The old service's call, with the base URL as the only change.
    llm = OllamaLLM(model=args.model, base_url=args.base_url, num_predict=args.num_predict)
    t = time.monotonic()
    outline = llm.invoke(outline_prompt(args.topic, args.modules))
    print(f"outline: {time.monotonic() - t:.1f} s", file=sys.stderr)
    titles = titles_of(outline, args.modules)
    if not titles:
        print(f"the outline named no modules: {outline!r}", file=sys.stderr)
        return 1
    course = {"topic": args.topic, "modules": []}
    for title in titles:
        t = time.monotonic()
        text = llm.invoke(module_prompt(args.topic, title))
        print(f"module '{title}': {time.monotonic() - t:.1f} s", file=sys.stderr)
        course["modules"].append({"title": title, "text": text})
    print(json.dumps(course, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
