#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_model_file (tests/fuzz/corpus/model_file): tiny but complete
GGUF models whose metadata and tensors reach past the parser (hearth inspect loads them), so the
fuzzer mutates hyperparameters and tensor shapes rather than headers. Run once; the output is
committed. python3 tests/fuzz/make_model_seeds.py tests/fuzz/corpus/model_file"""
import struct, sys, os

U32, F32, STR, BOOL, ARR_I32 = 4, 6, 8, 7, 9  # ARR_I32: an array of int32 (GGUF type 9 of type 5)

def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b

def kv(key, t, v):
    out = s(key) + struct.pack("<I", t)
    if t == U32: out += struct.pack("<I", v)
    elif t == F32: out += struct.pack("<f", v)
    elif t == STR: out += s(v)
    elif t == BOOL: out += struct.pack("<B", 1 if v else 0)
    elif t == ARR_I32: out += struct.pack("<IQ", 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
    return out

def q8_0(values):  # blocks of 32: f16 scale, 32 int8
    out = b""
    for i in range(0, len(values), 32):
        blk = values[i:i + 32]
        amax = max(abs(v) for v in blk) or 1.0
        d = amax / 127
        out += struct.pack("<e", d) + bytes((round(v / d) & 0xFF) for v in blk)
    return out

def gguf(path, meta, tensors):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for k, t, v in meta: head += kv(k, t, v)
    data, infos = b"", b""
    for name, shape, typ in tensors:
        n = 1
        for d in shape: n *= d
        vals = [((i * 37 + len(name)) % 17 - 8) / 16 for i in range(n)]
        raw = struct.pack(f"<{n}f", *vals) if typ == 0 else q8_0(vals)
        infos += s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        infos += struct.pack("<IQ", typ, len(data))
        data += raw + b"\0" * ((-len(raw)) % 32)
    blob = head + infos
    blob += b"\0" * ((-len(blob)) % 32)
    with open(path, "wb") as f: f.write(blob + data)

def tokenizer(n):
    return [("tokenizer.ggml.model", STR, "gpt2")]  # tokens omitted: the fuzz target stops before the tokenizer

def deepseek(path, legacy, kv_type):
    a, e, lora, nope, rope, v, heads, ff, vocab = "deepseek2", 32, 32, 4, 2, 4, 2, 32, 8
    meta = [("general.architecture", STR, a), (a + ".context_length", U32, 64), (a + ".embedding_length", U32, e),
            (a + ".block_count", U32, 2), (a + ".feed_forward_length", U32, ff), (a + ".attention.head_count", U32, heads),
            (a + ".attention.head_count_kv", U32, heads if legacy else 1),
            (a + ".attention.key_length", U32, nope + rope if legacy else lora + rope),
            (a + ".attention.value_length", U32, v if legacy else lora),
            (a + ".attention.kv_lora_rank", U32, lora), (a + ".attention.q_lora_rank", U32, 0),
            (a + ".rope.dimension_count", U32, rope), (a + ".rope.freq_base", F32, 10000.0),
            (a + ".attention.layer_norm_rms_epsilon", F32, 1e-6), (a + ".vocab_size", U32, vocab),
            (a + ".expert_count", U32, 4), (a + ".expert_used_count", U32, 2), (a + ".expert_feed_forward_length", U32, 8),
            (a + ".leading_dense_block_count", U32, 1), (a + ".expert_shared_count", U32, 1),
            (a + ".expert_weights_scale", F32, 1.0), (a + ".expert_weights_norm", BOOL, True),
            (a + ".expert_gating_func", U32, 2), (a + ".expert_group_count", U32, 2), (a + ".expert_group_used_count", U32, 1)]
    if not legacy:
        meta += [(a + ".attention.key_length_mla", U32, nope + rope), (a + ".attention.value_length_mla", U32, v)]
    meta += tokenizer(vocab)
    t = [("token_embd.weight", [e, vocab], 0), ("output_norm.weight", [e], 0), ("output.weight", [e, vocab], 0)]
    for i in range(2):
        b = f"blk.{i}."
        t += [(b + "attn_norm.weight", [e], 0), (b + "attn_q.weight", [e, heads * (nope + rope)], 0),
              (b + "attn_kv_a_mqa.weight", [e, lora + rope], 0), (b + "attn_kv_a_norm.weight", [lora], 0)]
        if legacy: t += [(b + "attn_kv_b.weight", [lora, heads * (nope + v)], kv_type)]
        else: t += [(b + "attn_k_b.weight", [nope, lora, heads], 0), (b + "attn_v_b.weight", [lora, v, heads], 0)]
        t += [(b + "attn_output.weight", [heads * v, e], 0), (b + "ffn_norm.weight", [e], 0)]
        if i == 0:
            t += [(b + "ffn_gate.weight", [e, ff], 0), (b + "ffn_up.weight", [e, ff], 0), (b + "ffn_down.weight", [ff, e], 0)]
        else:
            t += [(b + "ffn_gate_inp.weight", [e, 4], 0), (b + "exp_probs_b.bias", [4], 0),
                  (b + "ffn_gate_exps.weight", [e, 8, 4], 0), (b + "ffn_up_exps.weight", [e, 8, 4], 0),
                  (b + "ffn_down_exps.weight", [8, e, 4], 0), (b + "ffn_gate_shexp.weight", [e, 8], 0),
                  (b + "ffn_up_shexp.weight", [e, 8], 0), (b + "ffn_down_shexp.weight", [8, e], 0)]
    gguf(path, meta, t)

def llama(path):
    a, e, heads, ff, vocab = "llama", 32, 4, 64, 8
    meta = [("general.architecture", STR, a), (a + ".context_length", U32, 64), (a + ".embedding_length", U32, e),
            (a + ".block_count", U32, 1), (a + ".feed_forward_length", U32, ff), (a + ".attention.head_count", U32, heads),
            (a + ".attention.head_count_kv", U32, 2), (a + ".rope.dimension_count", U32, 8),
            (a + ".rope.freq_base", F32, 10000.0), (a + ".attention.layer_norm_rms_epsilon", F32, 1e-5),
            (a + ".vocab_size", U32, vocab)] + tokenizer(vocab)
    t = [("token_embd.weight", [e, vocab], 0), ("output_norm.weight", [e], 0),
         ("blk.0.attn_norm.weight", [e], 0), ("blk.0.attn_q.weight", [e, e], 0), ("blk.0.attn_k.weight", [e, 16], 0),
         ("blk.0.attn_v.weight", [e, 16], 0), ("blk.0.attn_output.weight", [e, e], 0), ("blk.0.ffn_norm.weight", [e], 0),
         ("blk.0.ffn_gate.weight", [e, ff], 0), ("blk.0.ffn_up.weight", [e, ff], 0), ("blk.0.ffn_down.weight", [ff, e], 0)]
    gguf(path, meta, t)

def qwen35(path):  # three Gated DeltaNet layers and one gated attention layer, a dense FFN
    a, e, heads, hd, ff, vocab, kh, vh, d = "qwen35", 32, 2, 16, 64, 8, 1, 2, 8
    ch, val = (2 * kh + vh) * d, vh * d
    meta = [("general.architecture", STR, a), (a + ".context_length", U32, 64), (a + ".embedding_length", U32, e),
            (a + ".block_count", U32, 4), (a + ".feed_forward_length", U32, ff), (a + ".attention.head_count", U32, heads),
            (a + ".attention.head_count_kv", U32, 1), (a + ".attention.key_length", U32, hd),
            (a + ".attention.value_length", U32, hd), (a + ".rope.dimension_count", U32, 4),
            (a + ".rope.dimension_sections", ARR_I32, [1, 1, 0, 0]), (a + ".rope.freq_base", F32, 10000.0),
            (a + ".attention.layer_norm_rms_epsilon", F32, 1e-6), (a + ".vocab_size", U32, vocab),
            (a + ".ssm.conv_kernel", U32, 4), (a + ".ssm.state_size", U32, d), (a + ".ssm.group_count", U32, kh),
            (a + ".ssm.time_step_rank", U32, vh), (a + ".ssm.inner_size", U32, val),
            (a + ".full_attention_interval", U32, 4)] + tokenizer(vocab)
    t = [("token_embd.weight", [e, vocab], 0), ("output_norm.weight", [e], 0)]
    for i in range(4):
        b = f"blk.{i}."
        t += [(b + "attn_norm.weight", [e], 0), (b + "post_attention_norm.weight", [e], 0)]
        if i < 3:
            t += [(b + "attn_qkv.weight", [e, ch], 0), (b + "attn_gate.weight", [e, val], 0),
                  (b + "ssm_conv1d.weight", [4, ch], 0), (b + "ssm_dt.bias", [vh], 0), (b + "ssm_a", [vh], 0),
                  (b + "ssm_beta.weight", [e, vh], 0), (b + "ssm_alpha.weight", [e, vh], 0),
                  (b + "ssm_norm.weight", [d], 0), (b + "ssm_out.weight", [val, e], 0)]
        else:
            t += [(b + "attn_q.weight", [e, 2 * heads * hd], 0), (b + "attn_k.weight", [e, hd], 0),
                  (b + "attn_v.weight", [e, hd], 0), (b + "attn_output.weight", [heads * hd, e], 0),
                  (b + "attn_q_norm.weight", [hd], 0), (b + "attn_k_norm.weight", [hd], 0)]
        t += [(b + "ffn_gate.weight", [e, ff], 0), (b + "ffn_up.weight", [e, ff], 0), (b + "ffn_down.weight", [ff, e], 0)]
    gguf(path, meta, t)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
deepseek(os.path.join(out, "deepseek2-legacy-f32.gguf"), True, 0)
deepseek(os.path.join(out, "deepseek2-legacy-q8_0.gguf"), True, 8)
deepseek(os.path.join(out, "deepseek2.gguf"), False, 0)
llama(os.path.join(out, "llama.gguf"))
qwen35(os.path.join(out, "qwen35.gguf"))
