/*
 * The memory calculator of "Why PEFT" (docs/why-peft.md).
 *
 * window.PEFTMemory.finetuneMemory(...) repeats lora_ref.budget.finetune_memory
 * with the same integer arithmetic, in BigInt (activations of large shapes pass
 * 2^53); tests/test_calculator_browser.py checks the two agree to the byte,
 * per device, for every ZeRO stage (devices, zeroStage).
 * This file is loaded on every page: it only wires up a page that contains
 * #peft-memory-calculator and does nothing anywhere else.
 */
(function () {
  "use strict";

  var LINEAR_NAMES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
  var PRECISIONS = {
    full: ["fp32", "mixed"],
    lora: ["bf16", "fp16", "fp32"],
    qlora: ["nf4", "nf4-dq"],
  };
  // ZeRO section 5: what each stage splits across the devices (0 = replicated)
  var ZERO_STAGES = {
    0: [],
    1: ["optimizer"],
    2: ["optimizer", "gradients"],
    3: ["optimizer", "gradients", "weights"],
  };
  // the same published shapes as lora_ref.counts.SHAPES (a test compares them)
  function shape(vocab, hidden, intermediate, layers, heads, kvHeads, headDim, qkvBias, tied) {
    return {
      vocab: vocab, hidden: hidden, intermediate: intermediate, layers: layers,
      heads: heads, kv_heads: kvHeads, head_dim: headDim, qkv_bias: qkvBias, tied: tied,
    };
  }
  var SHAPES = {
    "LLaMA-7B": shape(32000, 4096, 11008, 32, 32, 32, 128, false, false),
    "LLaMA-13B": shape(32000, 5120, 13824, 40, 40, 40, 128, false, false),
    "LLaMA-33B": shape(32000, 6656, 17920, 60, 52, 52, 128, false, false),
    "LLaMA-65B": shape(32000, 8192, 22016, 80, 64, 64, 128, false, false),
    "Llama-2-70B": shape(32000, 8192, 28672, 80, 64, 8, 128, false, false),
    "Qwen2.5-0.5B": shape(151936, 896, 4864, 24, 14, 2, 64, true, true),
  };

  function positive(name, value) {
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new RangeError(name + " must be a positive integer, got " + value);
    }
    return BigInt(value);
  }

  function ceilDiv(a, b) { return (a + b - 1n) / b; }

  function big(s) {
    var names = ["vocab", "hidden", "intermediate", "layers", "heads", "kv_heads", "head_dim"];
    var out = {};
    names.forEach(function (n) { out[n] = positive(n, s[n]); });
    if (out.heads % out.kv_heads !== 0n) throw new RangeError("heads must be a multiple of kv_heads");
    out.qkv_bias = !!s.qkv_bias;
    out.tied = !!s.tied;
    return out;
  }

  // (k, d) = (in_features, out_features) of each projection in one layer
  function linearShapes(s) {
    var h = s.hidden, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim, i = s.intermediate;
    return {
      q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h],
      gate_proj: [h, i], up_proj: [h, i], down_proj: [i, h],
    };
  }

  function linearSum(s) {
    var shapes = linearShapes(s), total = 0n;
    LINEAR_NAMES.forEach(function (n) { total += shapes[n][0] * shapes[n][1]; });
    return total;
  }

  function paramCount(s) {
    var bias = s.qkv_bias ? (s.heads + 2n * s.kv_heads) * s.head_dim : 0n;
    var perLayer = linearSum(s) + bias + 2n * s.hidden;
    var embeddings = s.vocab * s.hidden * (s.tied ? 1n : 2n);
    return embeddings + s.layers * perLayer + s.hidden;
  }

  function loraCount(s, targets, r) {
    var names = targets === "all-linear" ? LINEAR_NAMES : targets;
    var shapes = linearShapes(s), seen = {}, total = 0n;
    if (!Array.isArray(names) || names.length === 0) throw new RangeError("no target modules");
    names.forEach(function (n) {
      if (!(n in shapes)) throw new RangeError("unknown target module " + n);
      if (!seen[n]) { seen[n] = true; total += r * (shapes[n][0] + shapes[n][1]); }
    });
    return s.layers * total;
  }

  function nf4Bytes(n, doubleQuant) {
    var blocks = ceilDiv(n, 64n);
    var bits = doubleQuant ? 4n * n + 8n * blocks + 32n * ceilDiv(blocks, 256n) : 4n * n + 32n * blocks;
    return ceilDiv(bits, 8n);
  }

  function activationBytes(s, b, sl, checkpointing, element) {
    var h = s.hidden, a = s.heads;
    var layer = (34n * sl * b * h + 5n * a * sl * sl * b) * element / 2n;
    var kept = checkpointing ? s.layers * sl * b * h * element + layer : s.layers * layer;
    return kept + sl * b * s.vocab * 4n;
  }

  /* Same arguments and defaults as lora_ref.budget.finetune_memory; BigInt bytes. */
  function finetuneMemory(args) {
    var s = big(args.shape);
    var method = args.method, precision = args.precision;
    var b = positive("batch", args.batch), sl = positive("seq_len", args.seqLen);
    var r = positive("r", args.r === undefined ? 8 : args.r);
    var targets = args.targets === undefined ? ["q_proj", "v_proj"] : args.targets;
    if (!(method in PRECISIONS)) throw new RangeError("unknown method " + method);
    if (PRECISIONS[method].indexOf(precision) < 0) throw new RangeError("unknown precision " + precision);
    var devices = positive("devices", args.devices === undefined ? 1 : args.devices);
    var stage = args.zeroStage === undefined ? 0 : args.zeroStage;
    if (typeof stage !== "number" || !(stage in ZERO_STAGES)) {
      throw new RangeError("zero_stage must be 0, 1, 2 or 3, got " + stage);
    }
    var n = paramCount(s), weights, grads, optimizer, element;
    if (method === "full") {
      var w = precision === "fp32" ? 4n : 2n;
      weights = w * n; grads = w * n;
      optimizer = (8n + (precision === "mixed" ? 4n : 0n)) * n;
      element = w;
    } else {
      var t = loraCount(s, targets, r), base;
      if (method === "lora") {
        element = precision === "fp32" ? 4n : 2n;
        base = element * n;
      } else {
        var q = s.layers * linearSum(s);
        base = nf4Bytes(q, precision === "nf4-dq") + 2n * (n - q);
        element = 2n;
      }
      weights = base + 4n * t; grads = 4n * t; optimizer = 8n * t;
    }
    // a sharded state is split devices ways; a device keeps its part (ceil)
    var sharded = ZERO_STAGES[stage];
    if (sharded.indexOf("weights") >= 0) weights = ceilDiv(weights, devices);
    if (sharded.indexOf("gradients") >= 0) grads = ceilDiv(grads, devices);
    if (sharded.indexOf("optimizer") >= 0) optimizer = ceilDiv(optimizer, devices);
    var acts = activationBytes(s, b, sl, !!args.checkpointing, element);
    return {
      weights: weights, gradients: grads, optimizer: optimizer, activations: acts,
      total: weights + grads + optimizer + acts,
    };
  }

  function formatBytes(x) {
    // GB = 10^9 bytes, to two decimals, computed from the exact BigInt
    var hundredths = (x + 5000000n) / 10000000n;
    var whole = hundredths / 100n, frac = (hundredths % 100n).toString().padStart(2, "0");
    return whole.toLocaleString("en-US") + "." + frac + " GB";
  }

  function setup(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    var get = function (name) { return root.querySelector("[name=" + name + "]"); };
    var preset = get("preset"), method = get("method"), precision = get("precision");
    var fields = ["vocab", "hidden", "intermediate", "layers", "heads", "kv_heads", "head_dim"];
    Object.keys(SHAPES).forEach(function (k) { preset.add(new Option(k, k)); });

    function fillShape() {
      var s = SHAPES[preset.value];
      fields.forEach(function (f) { get(f).value = s[f]; });
      get("qkv_bias").checked = s.qkv_bias;
      get("tied").checked = s.tied;
    }
    function fillPrecisions() {
      var keep = precision.value;
      precision.length = 0;
      PRECISIONS[method.value].forEach(function (p) { precision.add(new Option(p, p)); });
      if (PRECISIONS[method.value].indexOf(keep) >= 0) precision.value = keep;
      root.querySelectorAll(".peft-lora-only").forEach(function (el) {
        el.disabled = method.value === "full";
      });
    }
    function update() {
      var out = root.querySelector("output");
      try {
        var s = {};
        fields.forEach(function (f) { s[f] = Number(get(f).value); });
        s.qkv_bias = get("qkv_bias").checked;
        s.tied = get("tied").checked;
        var m = finetuneMemory({
          shape: s, method: method.value, precision: precision.value,
          batch: Number(get("batch").value), seqLen: Number(get("seq_len").value),
          checkpointing: get("checkpointing").checked, r: Number(get("r").value),
          targets: get("targets").value === "all-linear" ? "all-linear" : ["q_proj", "v_proj"],
          devices: Number(get("devices").value), zeroStage: Number(get("zero_stage").value),
        });
        ["weights", "gradients", "optimizer", "activations", "total"].forEach(function (k) {
          root.querySelector("[data-out=" + k + "]").textContent = formatBytes(m[k]);
          root.querySelector("[data-bytes=" + k + "]").textContent = m[k].toLocaleString("en-US");
        });
        out.textContent = "";
      } catch (err) {
        out.textContent = String(err.message || err);
      }
    }
    preset.addEventListener("change", function () { fillShape(); update(); });
    method.addEventListener("change", function () { fillPrecisions(); update(); });
    root.addEventListener("input", update);
    root.addEventListener("change", update);
    fillShape();
    fillPrecisions();
    update();
  }

  function init() {
    var root = document.getElementById("peft-memory-calculator");
    if (root) setup(root);
  }

  window.PEFTMemory = {
    SHAPES: SHAPES, PRECISIONS: PRECISIONS, ZERO_STAGES: ZERO_STAGES, paramCount: function (s) { return paramCount(big(s)); },
    loraCount: function (s, targets, r) { return loraCount(big(s), targets, positive("r", r)); },
    finetuneMemory: finetuneMemory, formatBytes: formatBytes,
  };
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init); // Material re-renders pages on navigation
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
