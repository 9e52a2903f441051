"""The page's JavaScript calculator agrees with lora_ref.budget.finetune_memory.

Loads docs/javascripts/memory-calculator.js into a blank page of Debian's
headless Chromium (no site build needed) and compares every field, to the
byte, on a grid of methods x precisions x checkpointing x shapes x batches.
"""

import dataclasses
from pathlib import Path

import pytest

from lora_ref.budget import PRECISIONS, finetune_memory
from lora_ref.counts import SHAPES, ModelShape, lora_trainable_params, total_params

pytestmark = pytest.mark.slow  # builds the site and starts Chromium

JS = (
    Path(__file__).resolve().parents[1]
    / "docs"
    / "javascripts"
    / "memory-calculator.js"
)
FIELDS = ("weights", "gradients", "optimizer", "activations", "total")


@pytest.fixture(scope="module")
def page(browser):  # the shared Chromium of tests/conftest.py (skips loudly if absent)
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=str(JS))
    page.errors = errors
    yield page
    context.close()


def js_memory(page, cases: list[dict]) -> list[dict]:
    """Evaluate finetuneMemory on every case in one round trip (BigInt -> str)."""
    return page.evaluate(
        """cases => cases.map(c => {
            const m = window.PEFTMemory.finetuneMemory(c);
            const pairs = Object.entries(m).map(([k, v]) => [k, v.toString()]);
            return Object.fromEntries(pairs);
        })""",
        cases,
    )


def test_calculator_script_loads_without_errors_on_a_page_without_the_calculator(page):
    assert page.evaluate("typeof window.PEFTMemory.finetuneMemory") == "function"
    assert page.errors == []


def test_js_presets_are_the_python_shapes(page):
    js = page.evaluate("window.PEFTMemory.SHAPES")
    assert js == {name: dataclasses.asdict(s) for name, s in SHAPES.items()}


def test_js_calculator_matches_finetune_memory_to_the_byte(page):
    shapes = [
        SHAPES["LLaMA-7B"],
        SHAPES["Llama-2-70B"],
        SHAPES["Qwen2.5-0.5B"],
        ModelShape(4096, 256, 688, 4, 4, 4, 64),
    ]
    cases, expected = [], []
    for shape in shapes:
        for method, precisions in PRECISIONS.items():
            for precision in precisions:
                for checkpointing in (False, True):
                    for batch, seq_len, r, targets in (
                        (1, 2048, 8, ["q_proj", "v_proj"]),
                        (512, 32768, 64, "all-linear"),  # activations pass 2^53
                        (3, 77, 5, ["v_proj", "k_proj", "down_proj"]),
                    ):
                        cases.append(
                            {
                                "shape": dataclasses.asdict(shape),
                                "method": method,
                                "precision": precision,
                                "batch": batch,
                                "seqLen": seq_len,
                                "checkpointing": checkpointing,
                                "r": r,
                                "targets": targets,
                            }
                        )
                        m = finetune_memory(
                            shape,
                            method,
                            precision,
                            batch,
                            seq_len,
                            checkpointing,
                            r=r,
                            target_modules=targets,
                        )
                        expected.append({f: str(getattr(m, f)) for f in FIELDS})
    assert len(cases) == 4 * 7 * 2 * 3
    assert js_memory(page, cases) == expected
    assert max(int(e["total"]) for e in expected) > 2**53


def test_js_calculator_matches_finetune_memory_per_device_for_every_zero_stage(page):
    # ZeRO stages 0-3 x device counts (1, a power of two, one that does not
    # divide the bytes: the rounding up must agree too) x every method/precision
    cases, expected = [], []
    for shape in (SHAPES["LLaMA-7B"], SHAPES["Llama-2-70B"], SHAPES["Qwen2.5-0.5B"]):
        for method, precisions in PRECISIONS.items():
            for precision in precisions:
                for devices in (1, 8, 7):
                    for zero_stage in (0, 1, 2, 3):
                        case = {
                            "shape": dataclasses.asdict(shape),
                            "method": method,
                            "precision": precision,
                            "batch": 2,
                            "seqLen": 1024,
                            "checkpointing": zero_stage % 2 == 1,
                            "r": 16,
                            "targets": "all-linear",
                            "devices": devices,
                            "zeroStage": zero_stage,
                        }
                        cases.append(case)
                        m = finetune_memory(
                            shape,
                            method,
                            precision,
                            2,
                            1024,
                            zero_stage % 2 == 1,
                            r=16,
                            target_modules="all-linear",
                            devices=devices,
                            zero_stage=zero_stage,
                        )
                        expected.append({f: str(getattr(m, f)) for f in FIELDS})
    assert len(cases) == 3 * 7 * 3 * 4
    assert js_memory(page, cases) == expected


def test_js_param_counts_match_python(page):
    for name, shape in SHAPES.items():
        s = dataclasses.asdict(shape)
        got = page.evaluate(
            """s => [window.PEFTMemory.paramCount(s).toString(),
                     window.PEFTMemory.loraCount(s, ["q_proj", "v_proj"], 8).toString(),
                     window.PEFTMemory.loraCount(s, "all-linear", 64).toString()]""",
            s,
        )
        assert got == [
            str(total_params(shape)),
            str(lora_trainable_params(shape, ["q_proj", "v_proj"], 8)),
            str(lora_trainable_params(shape, "all-linear", 64)),
        ], name


def test_js_calculator_rejects_bad_input_like_python(page):
    base = {
        "shape": dataclasses.asdict(SHAPES["LLaMA-7B"]),
        "method": "lora",
        "precision": "bf16",
        "batch": 1,
        "seqLen": 16,
    }
    for bad in (
        {"batch": 0},
        {"seqLen": -1},
        {"method": "prefix"},
        {"precision": "int8"},
        {"r": 0},
        {"devices": 0},
        {"devices": 1.5},
        {"zeroStage": 4},
        {"zeroStage": -1},
    ):
        message = page.evaluate(
            """c => { try { window.PEFTMemory.finetuneMemory(c); return null; }
                      catch (e) { return e.name; } }""",
            base | bad,
        )
        assert message == "RangeError", bad


def test_calculator_form_on_the_page_shows_finetune_memory_for_its_defaults(page):
    import re

    markdown = (JS.parents[1] / "why-peft.md").read_text(encoding="utf-8")
    form = re.search(r'<form id="peft-memory-calculator".*?</form>', markdown, re.S)
    page.set_content(f"<!doctype html><html><body>{form[0]}</body></html>")
    page.add_script_tag(path=str(JS))
    shown = {f: page.locator(f"[data-bytes={f}]").text_content() for f in FIELDS}
    m = finetune_memory(
        SHAPES["LLaMA-7B"],
        "lora",
        "bf16",
        1,
        2048,
        True,
        r=16,
        target_modules="all-linear",
    )
    assert shown == {f: f"{getattr(m, f):,}" for f in FIELDS}
    page.select_option("[name=preset]", "Llama-2-70B")
    page.select_option("[name=method]", "qlora")
    page.select_option("[name=precision]", "nf4-dq")
    m = finetune_memory(
        SHAPES["Llama-2-70B"],
        "qlora",
        "nf4-dq",
        1,
        2048,
        True,
        r=16,
        target_modules="all-linear",
    )
    assert page.locator("[data-bytes=total]").text_content() == f"{m.total:,}"
    assert page.locator("[data-out=total]").text_content() == f"{m.total / 1e9:.2f} GB"
    page.select_option("[name=method]", "full")
    page.select_option("[name=precision]", "mixed")
    page.fill("[name=devices]", "8")
    page.select_option("[name=zero_stage]", "3")
    m = finetune_memory(
        SHAPES["Llama-2-70B"],
        "full",
        "mixed",
        1,
        2048,
        True,
        r=16,
        target_modules="all-linear",
        devices=8,
        zero_stage=3,
    )
    shown = {f: page.locator(f"[data-bytes={f}]").text_content() for f in FIELDS}
    assert shown == {f: f"{getattr(m, f):,}" for f in FIELDS}
    page.fill("[name=devices]", "0")
    assert "devices" in page.locator("output").text_content()
    assert page.errors == []
