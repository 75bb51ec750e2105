# llama.cpp's own Hugging Face converter (conversion/ and gguf-py from the source bundle that
# node-llama-cpp ships, run under Debian's python3-torch) as the reference for hearth's HF folder
# loading, and a plain comparison of two GGUF files. Used by hf_convert.test.mjs.
#   hf_convert.py convert LLAMA_CPP_DIR HF_DIR OUT.gguf   tensors and hyperparameters, F32 out
#   hf_convert.py compare LLAMA_CPP_DIR A.gguf B.gguf     JSON: {"tensors": [...], "metadata": [...]}
#   hf_convert.py fuse-experts HF_DIR OUT_DIR             the per-expert tensors of a Qwen3.5-MoE
#                                                         folder as its fused gate_up_proj/down_proj
# The vocabulary is left out of `convert` (the converter reads it through transformers, which
# Debian does not package); transformers' AutoConfig is stubbed to fail, which makes the converter
# read config.json itself, as it does for configs transformers does not know, and AutoTokenizer is
# a lookup in tokenizer.json (all a reranker's conversion asks of it).
import json
import pathlib
import re
import shutil
import struct
import sys
import types


def gguf_module(llama):
    sys.path.insert(0, llama + "/gguf-py")
    import gguf
    return gguf


def convert(llama, hf, out):
    stub = types.ModuleType("transformers")

    class AutoConfig:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            raise RuntimeError("transformers is not installed: read config.json")

    # Qwen3-Reranker's conversion looks up the ids of "yes" and "no" (Qwen3Model._find_rerank_config):
    # AutoTokenizer stands in as a lookup in the folder's tokenizer.json.
    class AutoTokenizer:
        @staticmethod
        def from_pretrained(folder, *args, **kwargs):
            tok = json.loads((pathlib.Path(folder) / "tokenizer.json").read_text(encoding="utf-8"))
            ids = dict(tok["model"]["vocab"])
            for added in tok.get("added_tokens", []):
                ids.setdefault(added["content"], added["id"])
            return types.SimpleNamespace(convert_tokens_to_ids=lambda t: ids.get(t))

    stub.AutoConfig = AutoConfig
    stub.AutoTokenizer = AutoTokenizer
    sys.modules["transformers"] = stub
    import torch
    # Debian packages no python3-safetensors: the converter's safetensors.torch.load_file (EmbeddingGemma's
    # Dense modules) read with this script's own reader.
    st, st_torch = types.ModuleType("safetensors"), types.ModuleType("safetensors.torch")
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}

    def load_file(path):
        header, data = read_safetensors(path)
        out = {}
        for name, t in header.items():
            if name == "__metadata__":
                continue
            begin, end = t["data_offsets"]
            out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[t["dtype"]]).reshape(t["shape"])
        return out

    st_torch.load_file = load_file
    st.torch = st_torch
    sys.modules.setdefault("safetensors", st)
    sys.modules.setdefault("safetensors.torch", st_torch)
    # Debian's torch 1.13 predates dtypes the converter names in its tables.
    for name in ["float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "float4_e2m1fn_x2", "uint16", "uint32", "uint64"]:
        if not hasattr(torch, name):
            setattr(torch, name, object())
    gguf = gguf_module(llama)
    sys.path.insert(0, llama)
    from conversion import ModelBase, get_model_class
    hparams = ModelBase.load_hparams(pathlib.Path(hf), False)
    # Gemma3Model trims token_embd to the tokenizer's size, read from tokenizer.json: a folder
    # without one converts through a stand-in of vocab_size entries (nothing trimmed).
    folder = pathlib.Path(hf)
    if hparams["architectures"][0].startswith(("Gemma3", "Gemma4")) and not (folder / "tokenizer.json").exists():
        import tempfile
        stand_in = pathlib.Path(tempfile.mkdtemp(prefix="hf-vocab-"))
        for f in folder.iterdir():
            (stand_in / f.name).symlink_to(f.resolve())
        vocab = {f"t{i}": i for i in range(hparams["vocab_size"])}
        (stand_in / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}, "added_tokens": []}))
        hf = str(stand_in)
    cls = get_model_class(hparams["architectures"][0])
    cls.set_vocab = lambda self: None
    if getattr(cls, "supports_mtp_export", False):
        cls.no_mtp = True  # --no-nextn: these folders have no multi-token-prediction layers
    # Dense modules after the pooling (EmbeddingGemma): converted, as sentence-transformers applies them.
    model = cls(pathlib.Path(hf), gguf.LlamaFileType.ALL_F32, pathlib.Path(out), eager=True,
                sentence_transformers_dense_modules=True)
    with torch.inference_mode():
        model.write()


def compare(llama, path_a, path_b):
    import numpy as np
    gguf = gguf_module(llama)
    a, b = gguf.GGUFReader(path_a), gguf.GGUFReader(path_b)
    ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
    diffs = [f"only in A: {n}" for n in sorted(set(ta) - set(tb))] + [f"only in B: {n}" for n in sorted(set(tb) - set(ta))]
    for n in sorted(set(ta) & set(tb)):
        x, y = ta[n], tb[n]
        if x.tensor_type != y.tensor_type or [int(d) for d in x.shape] != [int(d) for d in y.shape]:
            diffs.append(f"{n}: {x.tensor_type.name} {list(map(int, x.shape))} vs {y.tensor_type.name} {list(map(int, y.shape))}")
        elif x.data.tobytes() != y.data.tobytes():
            d = np.abs(x.data.astype(np.float64) - y.data.astype(np.float64)).max() if x.tensor_type.name == "F32" else None
            diffs.append(f"{n}: bytes differ" + (f" (max |diff| {d})" if d is not None else ""))
    arch = a.fields["general.architecture"].contents()

    def meta(r):
        return {k: v.contents() for k, v in r.fields.items() if k.startswith(arch + ".")}
    ma, mb = meta(a), meta(b)
    meta_diffs = [{"key": k, "a": ma.get(k), "b": mb.get(k)} for k in sorted(set(ma) | set(mb)) if ma.get(k) != mb.get(k)]
    print(json.dumps({"tensors": diffs, "metadata": meta_diffs, "n_tensors": len(ta)}))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def fuse_experts(hf, out):
    header, data = read_safetensors(pathlib.Path(hf) / "model.safetensors")
    meta = header.pop("__metadata__", None)
    experts = {}
    tensors = []  # (name, dtype, shape, bytes)
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        raw = data[t["data_offsets"][0]:t["data_offsets"][1]]
        m = re.fullmatch(r"model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight", name)
        if m:
            experts.setdefault(int(m[1]), {})[(int(m[2]), m[3])] = (t, raw)
        else:
            tensors.append((name, t["dtype"], t["shape"], raw))
    for layer, parts in sorted(experts.items()):
        n = 1 + max(e for e, _ in parts)
        gate_up = b"".join(parts[(e, "gate")][1] + parts[(e, "up")][1] for e in range(n))
        down = b"".join(parts[(e, "down")][1] for e in range(n))
        g, d = parts[(0, "gate")][0], parts[(0, "down")][0]
        tensors.append((f"model.layers.{layer}.mlp.experts.gate_up_proj", g["dtype"], [n, 2 * g["shape"][0], g["shape"][1]], gate_up))
        tensors.append((f"model.layers.{layer}.mlp.experts.down_proj", d["dtype"], [n] + d["shape"], down))
    out_header, offset = {}, 0
    for name, dtype, shape, raw in tensors:
        out_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if meta is not None:
        out_header["__metadata__"] = meta
    text = json.dumps(out_header).encode()
    text += b" " * (-len(text) % 8)
    dst = pathlib.Path(out)
    dst.mkdir(parents=True, exist_ok=True)
    for f in pathlib.Path(hf).iterdir():
        if f.name != "model.safetensors":
            shutil.copy(f, dst / f.name)
    with open(dst / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, _, raw in tensors:
            f.write(raw)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "convert":
        convert(*sys.argv[2:5])
    elif cmd == "compare":
        compare(*sys.argv[2:5])
    elif cmd == "fuse-experts":
        fuse_experts(*sys.argv[2:4])
    else:
        sys.exit(f"unknown command {cmd}")
