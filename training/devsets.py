"""Dev sets our templates did not write, to score the engine on (`python -m training.devsets`).

- `tau-dev`: tau-bench's 20 dev tasks (never trained on; their test tasks are not in the data
  directory at all). Each is played twice: the shopper opens with the task's own instruction, which
  an annotator wrote, turned into the first person ("You've received a black laser gaming mouse"
  -> "I've received ..."); the agent's replies are re-worded as another agent would word them.
- `public-heldout`: conversations whose shopper requests, requests for a person, out-of-scope
  questions and product requests come from the fifth of the public utterance sets (Bitext,
  CLINC150, Banking77, WebShop) that training never sees (`training.phrasing.held_out`).
- `reworded`: the generated dev conversations (unseen users and tasks) with every agent reply in
  another agent's words: the agent's wording never matches a template.

They are build output (`$SHOPBOT_HOME/devsets/*.jsonl`), not committed: they read the public data
at build time. `shopbot evaluate --transcripts FILE` scores any of them.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from bot.settings import Settings
from training.transcripts import Transcript, read_jsonl, write_jsonl

# Sentences of a tau-bench instruction that steer its user simulator rather than describe the
# shopper's situation: the opening keeps the sentences before the first of these.
STEERING = re.compile(r"^(if |try |express |do not |don't |make sure |you don't want|you do't want|you are (?:a |an )?[a-z]+, |you are [a-z]+(?:, [a-z]+)*\.|you want the agent|when )", re.I)
PERSON = (
    (r"\bYou've\b", "I've"), (r"\byou've\b", "I've"), (r"\bYou're\b", "I'm"), (r"\byou're\b", "I'm"),
    (r"\bYou are\b", "I am"), (r"\byou are\b", "I am"), (r"\bYou'd\b", "I'd"), (r"\byou'd\b", "I'd"),
    (r"\bYou\b", "I"), (r"\byou\b", "I"), (r"\bYour\b", "My"), (r"\byour\b", "my"), (r"\byourself\b", "myself"),
)


def first_person(instruction: str) -> str:
    """The situation an instruction describes, in the shopper's own voice."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", instruction) if s.strip()]
    kept = []
    for sentence in sentences:
        if sentence.lower().startswith("your name is"):
            continue
        if STEERING.match(sentence):
            if kept:
                break
            continue
        kept.append(sentence)
        if len(kept) == 3:
            break
    text = " ".join(kept)
    for pattern, replacement in PERSON:
        text = re.sub(pattern, replacement, text)
    return text


def tau_dev(settings: Settings, seed: int = 0) -> list[Transcript]:
    from bot.store.tau_bench import read_tau_bench
    from tools.search_policy import default_index
    from training.build_data import Builder, reworded, tau_bench_tasks
    from training.phrasing import Phrasing

    tau_dir = settings.data_dir / "tau-bench-retail"  # type: ignore[operator]
    store = read_tau_bench(tau_dir)
    instructions = [t["instruction"] for t in json.loads((tau_dir / "tasks_dev.json").read_text(encoding="utf-8"))]
    tasks = tau_bench_tasks(tau_dir / "tasks_dev.json")
    builder = Builder({"tau-bench": store}, Phrasing(random.Random(seed), settings.data_dir, split="dev"), default_index().search, [])
    out = []
    for task, instruction in zip(tasks, [i for i, t in zip(instructions, json.loads((tau_dir / "tasks_dev.json").read_text())) if "actions" in t]):
        for play in range(2):
            rng = random.Random(f"tau-dev-{seed}-{task.task_id}-{play}")
            transcript = builder.conversation(task, rng, opening=first_person(instruction))
            reworded(transcript.messages, rng, share=1.0)
            transcript.id = f"tau-dev-{task.task_id}-{play}"
            out.append(transcript)
    return out


def public_heldout(settings: Settings, seed: int = 0, n: int = 80) -> list[Transcript]:
    from bot.store.generate import generate_store
    from tools.search_policy import default_index
    from training.build_data import Builder, generated_tasks
    from training.phrasing import Phrasing
    from training.shopping import webshop_requests

    store = generate_store(settings.demo_seed + 1000, 60)  # users the training store does not have
    rng = random.Random(seed)
    builder = Builder({"demo": store}, Phrasing(random.Random(seed + 1), settings.data_dir, split="dev"), default_index().search, webshop_requests(settings.data_dir, split="dev"))
    tasks = generated_tasks("demo", store, n, rng, "public-heldout")
    for task in tasks:
        task.extras = rng.sample(("shopping", "oos", "unsupported", "smalltalk", "shopping"), 2)
    return [builder.conversation(t, random.Random(f"heldout-{seed}-{t.task_id}")) for t in tasks]


def reworded_dev(dev: list[Transcript], seed: int = 0) -> list[Transcript]:
    from training.build_data import reworded

    out = []
    for t in dev:
        messages = json.loads(json.dumps(t.messages))
        reworded(messages, random.Random(f"reworded-{seed}-{t.id}"), share=1.0)
        out.append(Transcript(f"reworded-{t.id}", messages))
    return out


def build_devsets(settings: Settings, out: Path | None = None) -> dict[str, Path]:
    out = out or settings.home / "devsets"
    written: dict[str, Path] = {}
    dev_file = settings.models_dir / "engine" / "dev.jsonl"
    if dev_file.is_file():
        written["reworded"] = out / "reworded.jsonl"
        write_jsonl(written["reworded"], reworded_dev(read_jsonl(dev_file)))
    if settings.data_dir is not None and (settings.data_dir / "tau-bench-retail" / "tasks_dev.json").is_file():
        written["tau-dev"] = out / "tau-dev.jsonl"
        write_jsonl(written["tau-dev"], tau_dev(settings))
    if settings.data_dir is not None:
        written["public-heldout"] = out / "public-heldout.jsonl"
        write_jsonl(written["public-heldout"], public_heldout(settings))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="build the dev sets our templates did not write")
    parser.add_argument("--out", type=Path, default=None, help="directory (default: $SHOPBOT_HOME/devsets)")
    args = parser.parse_args()
    for name, path in build_devsets(Settings.from_env(), args.out).items():
        print(f"{name}: {path} ({len(read_jsonl(path))} conversations)")


if __name__ == "__main__":
    main()
