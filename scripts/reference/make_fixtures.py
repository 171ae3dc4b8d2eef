#!/usr/bin/env python3
"""Reference-fixture generator for the Swift ChatTTS port.

What this script does
---------------------
1. Builds a *tiny* random-weight ChatTTS model in exactly the on-disk layout of
   the official ``asset/`` folder (same file names, same tensor names, same
   config keys) under ``Tests/Fixtures/tiny/asset/``.  Every module is created
   with the official Python classes (ChatTTS ``Embed``/``DVAE``, HF
   ``LlamaModel``, ``vocos.Vocos``) at reduced sizes and its ``state_dict`` is
   written with safetensors, so tensor names cannot drift from what the
   official loader expects.
2. Loads that folder with the *official* ``ChatTTS.Chat._load`` (no sha256
   check) and records what the official implementation computes, stage by
   stage, under ``Tests/Fixtures/reference/`` (safetensors + JSON).
3. ``--check`` regenerates everything into a temporary directory and compares
   the sha256 of every file with the committed one.
4. ``--full-size OUT_DIR`` writes a random-weight model with the *real*
   ChatTTS dimensions (about 1.2 GB) to ``OUT_DIR/asset`` and smoke-tests it
   with the official code.  Never commit that folder.

The official package is only imported and called; nothing of its code or data
is copied here.  All random weights, the speaker statistics and the tokenizer
vocabulary are produced by this script from a single ``--seed``.

Run it with the venv described in ``scripts/reference/README.md``.
"""

from __future__ import annotations

import os

# Determinism: single-threaded math, no tokenizer thread pool, no network.
# These must be set before torch / tokenizers are imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import hashlib
import json
import logging
import math
import platform
import shutil
import string
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.utils.parametrize as P
from safetensors.torch import save_file

warnings.filterwarnings("ignore")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
DEFAULT_SEED = 20240528

# ----------------------------------------------------------------------------
# Model dimensions
# ----------------------------------------------------------------------------

#: Tiny model used for the committed fixtures.  Only the sizes change; the
#: structural constants of ChatTTS stay real: 626 audio tokens (625 = EOS),
#: 4 codebooks, 100 mel bins, n_fft 1024, hop 256, FSQ levels (5,5,5,5), G=2, R=2.
TINY_DIMS = {
    # hidden 32 with 2 heads keeps head_dim = 16 (RoPE on 8 frequency pairs);
    # hidden, intermediate and head count all differ so transposition bugs show.
    # (The Embed code tables, 4 x 2 x 626 x hidden floats, dominate the size.)
    "gpt": dict(hidden_size=32, intermediate_size=96, num_attention_heads=2,
                num_hidden_layers=2, llama_vocab_size=16),
    # Decoder that turns GPT hidden states into mel (idim = gpt hidden / 2).
    "decoder": dict(idim=16, odim=16, hidden=24, n_layer=2, bn_dim=12),
    # DVAE: encoder (mel -> latent), decoder (FSQ latent -> mel), GFSQ.
    "dvae_encoder": dict(idim=16, odim=32, hidden=16, n_layer=2, bn_dim=8),
    "dvae_decoder": dict(idim=16, odim=16, hidden=16, n_layer=2, bn_dim=8),
    "vq": dict(dim=32, levels=(5, 5, 5, 5), G=2, R=2),
    "vocos": dict(dim=24, intermediate_dim=64, num_layers=2),
}

#: Real ChatTTS dimensions (ChatTTS/config/config.py defaults) for --full-size.
FULL_DIMS = {
    "gpt": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                num_hidden_layers=20, llama_vocab_size=32000),
    "decoder": dict(idim=384, odim=384, hidden=512, n_layer=12, bn_dim=128),
    "dvae_encoder": dict(idim=512, odim=1024, hidden=256, n_layer=12, bn_dim=128),
    "dvae_decoder": dict(idim=512, odim=512, hidden=256, n_layer=12, bn_dim=128),
    "vq": dict(dim=1024, levels=(5, 5, 5, 5), G=2, R=2),
    "vocos": dict(dim=512, intermediate_dim=1536, num_layers=8),
}
FULL_NUM_TEXT_TOKENS = 21178

#: ChatTTS control tokens, in the order they follow the normal vocabulary in
#: the real tokenizer (ids 21128..21177 there).  Everything the refine step may
#: keep ([uv_break], [laugh], [lbreak], ...) sits before [break_0].
CONTROL_TOKENS = (
    ["[Sasr]", "[Pasr]", "[Easr]", "[Stts]", "[Ptts]", "[Etts]",
     "[Sbreak]", "[Pbreak]", "[Ebreak]", "[uv_break]", "[v_break]",
     "[lbreak]", "[llbreak]", "[undefine]", "[laugh]", "[spk_emb]",
     "[empty_spk]", "[music]", "[pure]"]
    + [f"[break_{i}]" for i in range(8)]
    + [f"[laugh_{i}]" for i in range(3)]
    + [f"[oral_{i}]" for i in range(10)]
    + [f"[speed_{i}]" for i in range(10)]
)
assert len(CONTROL_TOKENS) == 50

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

NUM_VQ = 4
NUM_AUDIO_TOKENS = 626
EOS_CODE = NUM_AUDIO_TOKENS - 1

# ----------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, flush=True)


def setup_torch() -> None:
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.use_deterministic_algorithms(True)
    torch.set_grad_enabled(False)


def quiet_logger() -> logging.Logger:
    lg = logging.getLogger("chattts-fixtures")
    lg.setLevel(logging.ERROR)
    if not lg.handlers:
        lg.addHandler(logging.StreamHandler(sys.stderr))
    lg.propagate = False
    return lg


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> Dict[str, str]:
    out = {
        "python": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
    }
    for name in ["torch", "torchaudio", "transformers", "tokenizers", "vocos",
                 "vector_quantize_pytorch", "chattts", "safetensors", "numpy",
                 "pybase16384", "einops", "einx"]:
        try:
            out[name] = pkg_version(name)
        except Exception:  # pragma: no cover - informative only
            out[name] = "missing"
    return out


class TensorFile:
    """Collects named tensors (plus a one-line description each) for one
    safetensors fixture.  Floats are stored as F32, integers/bools as I64."""

    def __init__(self, name: str):
        self.name = name
        self.tensors: Dict[str, torch.Tensor] = {}
        self.docs: Dict[str, str] = {}

    def add(self, key: str, value, doc: str, allow_inf: bool = False) -> None:
        t = torch.as_tensor(value).detach().cpu()
        if t.dtype == torch.bool or not t.is_floating_point():
            t = t.to(torch.int64)
        else:
            t = t.to(torch.float32)
        assert key not in self.tensors, key
        assert not torch.isnan(t.float()).any(), f"NaN in {key}"
        assert allow_inf or torch.isfinite(t.float()).all(), f"non-finite values in {key}"
        self.tensors[key] = t.contiguous().clone()
        self.docs[key] = doc

    def save(self, folder: Path, index: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.tensors, str(folder / self.name), metadata={"format": "pt"})
        index[self.name] = {
            k: {"shape": list(v.shape), "dtype": "F32" if v.is_floating_point() else "I64",
                "doc": self.docs[k]}
            for k, v in self.tensors.items()
        }


# ----------------------------------------------------------------------------
# Tokenizer vocabulary
# ----------------------------------------------------------------------------

ENGLISH_WORDS = """
the a an and or but is are was were be been being to of in on at for with as by from
this that these those it its i you he she we they me him her us them my your his our their
what which who when where why how not no yes do does did done have has had can could will
would should may might must say said go going went get got make made know think take see
come want look use find give tell work call try ask need feel become leave put mean keep let
begin seem help talk turn start show hear play run move like live believe hold bring happen
write provide sit stand lose pay meet include continue set learn change lead understand watch
follow stop create speak read allow add spend grow open walk win offer remember love consider
appear buy wait serve send expect build stay fall cut reach remain hello world test tiny model
speech voice text chat good great new old time day year people way man woman child thing life
hand part place case week company system program question number night point home water room
mother area money story fact month lot right study book eye job word business issue side kind
head house service friend father power hour game line end member law car city name team minute
idea kid body information back parent face others level office door health person art war
history party result morning reason research girl guy moment air teacher force education
weather today tomorrow nice please thank thanks sorry okay ok very much many more most some any
all one two three four five six seven eight nine ten hundred thousand first last long little big
small high low there here then than so just also only now up down out about into over after
before again well really because if while still even too repo contains code annotating english
fisher transcripts audio sound music laugh break speed oral
""".split()

ENGLISH_SUFFIXES = ["##s", "##es", "##ed", "##ing", "##er", "##est", "##ly", "##tion", "##ment",
                    "##ness", "##able", "##ful", "##less", "##al", "##ic", "##ize", "##ity", "##ous",
                    "##ive", "##y", "##en", "##ers", "##ings", "##00", "##000"]

NUMBER_TOKENS = ["10", "12", "20", "24", "30", "50", "100", "1000", "2024", "2025", "24000"]

CJK_PUNCT = list("，。！？、；：“”‘’（）《》【】…—·～「」『』￥")

OTHER_SYMBOLS = list("°×÷€£¥±§©®™")

# A few hundred frequent Chinese characters (our own pick), plus everything the
# reference texts below use.
CJK_CHARS = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去"
    "行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从已知全长"
    "点高向外开正问实明回现很由量打物让老意但比内最表常位等便情再给部政因各度机且把美想样做动气手感使声色线"
    "电少话身题工真边名百山水力理信语音合欢迎今园散步吧款强对式文本转模型笑停顿乐请注应遵守律伦准则避免滥安"
    "风险世界您谢早晚饭吃喝火河海雨雪春夏秋冬东南西北左右爸妈哥姐弟妹朋友师电脑号码昨星期月钟元块钱零四五六"
    "七八九千万亿两第几些什别像被听读写字书本课教室桌椅门窗车路走跑飞鸟鱼猫狗花草树林江湖城市村场店商买卖价"
    "贵便宜新旧快慢远近冷热红黄蓝绿白黑生命活死病医院药身体头眼耳口鼻脸心肝肚腿脚爱恨喜怒哀思念希望梦醒睡觉"
    "起床洗澡衣服鞋帽包伞灯光影视频网络游戏运体育足球篮唱歌跳舞画图片照相机器学习研究科技术数据信息系统软件硬"
    "件开发测试例子示范款式样板清楚明白简单复杂容易困难问题答案解决办法方法原因结果"
)

REFERENCE_TEXTS = [
    "你好，欢迎使用语音合成。",
    "Hello world! This is a tiny test [uv_break] of chat T T S.",
    "今天天气很好[laugh]，我们去公园散步吧，好不好？",
]


def build_vocab(target_size: Optional[int] = None) -> List[str]:
    """Ordered WordPiece vocabulary (without the ChatTTS control tokens).

    The small vocabulary is made of the BERT specials, ASCII symbols, digits,
    lowercase letters (and their ``##`` continuations), a few hundred English
    words/suffixes, numbers, Chinese punctuation and characters.  With
    ``target_size`` it is padded with further CJK ideographs (and then
    synthetic ``##xNNNN`` pieces) to exactly that many entries; this is used
    for the full-size model (21128 entries like bert-base-chinese)."""
    vocab: List[str] = []
    seen = set()

    def push(tok: str) -> None:
        if tok and tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    for t in BERT_SPECIALS:
        push(t)
    for ch in string.punctuation:
        push(ch)
    for ch in string.digits + string.ascii_lowercase:
        push(ch)
    for ch in string.digits + string.ascii_lowercase:
        push("##" + ch)
    for w in ENGLISH_WORDS:
        push(w)
    for w in ENGLISH_SUFFIXES + NUMBER_TOKENS:
        push(w)
    for ch in CJK_PUNCT + OTHER_SYMBOLS:
        push(ch)
    for ch in CJK_CHARS:
        push(ch)
    for text in REFERENCE_TEXTS:
        for ch in text:
            if "\u4e00" <= ch <= "\u9fff":
                push(ch)
    if target_size is not None:
        cp = 0x4E00
        while len(vocab) < target_size and cp <= 0x9FFF:
            push(chr(cp))
            cp += 1
        n = 0
        while len(vocab) < target_size:
            push(f"##x{n:05d}")
            n += 1
        assert len(vocab) == target_size
    return vocab


def build_tokenizer(out_dir: Path, vocab: List[str]) -> int:
    """Writes a BERT WordPiece tokenizer with the ChatTTS control tokens
    appended as special added tokens.  Returns the total size (len(tokenizer)),
    which is what ChatTTS calls ``num_text_tokens``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in BERT_SPECIALS])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in CONTROL_TOKENS])

    fast = BertTokenizerFast(
        tokenizer_object=tok, do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None,
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]", model_max_length=512)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir), legacy_format=False)
    for extra in ["vocab.txt", "added_tokens.json"]:
        if (out_dir / extra).exists():
            (out_dir / extra).unlink()
    n = len(fast)
    assert n == len(vocab) + len(CONTROL_TOKENS), (n, len(vocab))
    return n


# ----------------------------------------------------------------------------
# ChatTTS config objects and module construction
# ----------------------------------------------------------------------------


def make_config(dims: dict, num_text_tokens: int, spk_stat: str):
    """A ChatTTS ``Config`` with our sizes.  New dataclass instances are created
    for every section: the official defaults are shared class-level objects
    and must not be mutated."""
    from ChatTTS.config import config as C

    g = dims["gpt"]
    cfg = C.Config()
    cfg.gpt = C.GPT(hidden_size=g["hidden_size"], intermediate_size=g["intermediate_size"],
                    num_attention_heads=g["num_attention_heads"],
                    num_hidden_layers=g["num_hidden_layers"], num_text_tokens=num_text_tokens)
    cfg.embed = C.Embed(hidden_size=g["hidden_size"], num_text_tokens=num_text_tokens)
    cfg.decoder = C.Decoder(**dims["decoder"])
    cfg.dvae = C.DVAE(encoder=C.Decoder(**dims["dvae_encoder"]),
                      decoder=C.Decoder(**dims["dvae_decoder"]),
                      vq=C.VQ(dim=dims["vq"]["dim"], levels=tuple(dims["vq"]["levels"]),
                              G=dims["vq"]["G"], R=dims["vq"]["R"]))
    v = dims["vocos"]
    cfg.vocos = C.Vocos(
        feature_extractor=C.FeatureExtractor(init_args=C.FeatureExtractorInitArgs()),
        backbone=C.Backbone(init_args=C.BackboneInitArgs(
            input_channels=100, dim=v["dim"], intermediate_dim=v["intermediate_dim"],
            num_layers=v["num_layers"])),
        head=C.FourierHead(init_args=C.FourierHeadInitArgs(dim=v["dim"])),
    )
    cfg.spk_stat = spk_stat
    return cfg


def config_summary(cfg, dims: dict) -> dict:
    """JSON description of every size the official Config carries (the parts
    that are not stored in gpt/config.json)."""
    return {
        "_comment": "Sizes passed to the official ChatTTS classes for this asset folder "
                    "(the real model uses ChatTTS/config/config.py defaults). "
                    "spk_stat is our own random speaker statistic for this model.",
        "gpt": asdict(cfg.gpt),
        "llama_vocab_size": dims["gpt"]["llama_vocab_size"],
        "embed": asdict(cfg.embed),
        "decoder": asdict(cfg.decoder),
        "dvae": {"encoder": asdict(cfg.dvae.encoder), "decoder": asdict(cfg.dvae.decoder),
                 "vq": {**asdict(cfg.dvae.vq), "levels": list(cfg.dvae.vq.levels)},
                 "dim": cfg.dvae.decoder.idim},
        "vocos": asdict(cfg.vocos),
        "spk_stat": cfg.spk_stat,
    }


def init_weights(module: torch.nn.Module, gen: torch.Generator,
                 special: Optional[Callable[[str, torch.Tensor, torch.Generator], Optional[torch.Tensor]]] = None,
                 keep: Tuple[str, ...] = ("window", "fb")) -> None:
    """Overwrites every parameter/buffer of ``module`` (in state_dict order)
    with random values of a sensible scale:

    * linear / conv weights: N(0, 1/fan_in)   (fan_in = prod(shape[1:]))
    * biases: N(0, 0.05^2)
    * norm weights (LayerNorm, RMSNorm): U(0.8, 1.2); ConvNeXt layer scales: U(0.3, 0.7)
    * embeddings: N(0, 1); weight-norm direction v: N(0, 1); weight-norm gain g: U(3, 6)
    * STFT windows and mel filter banks (names ending in ``keep``) are left as built.

    ``special(name, tensor, gen)`` may return a replacement for any entry."""
    sd = module.state_dict()
    new = {}
    for name, t in sd.items():
        val = special(name, t, gen) if special is not None else None
        if val is None:
            last = name.split(".")[-1]
            shape = tuple(t.shape)
            if any(name.endswith(k) for k in keep):
                val = t
            elif last == "bias":
                val = torch.randn(shape, generator=gen) * 0.05
            elif last == "original0":  # weight-norm magnitude g, shape (out, 1)
                val = torch.rand(shape, generator=gen) * 3.0 + 3.0
            elif last == "original1":  # weight-norm direction v
                val = torch.randn(shape, generator=gen)
            elif "emb" in name and t.dim() == 2:  # emb_code / emb_text / embed_tokens
                val = torch.randn(shape, generator=gen)
            elif t.dim() == 1 and ("norm" in name):
                val = torch.rand(shape, generator=gen) * 0.4 + 0.8
            elif t.dim() == 1 and (last in ("weight", "gamma")):  # ConvNeXt layer scale
                val = torch.rand(shape, generator=gen) * 0.4 + 0.3
            elif t.dim() >= 2:
                fan_in = int(np.prod(shape[1:]))
                val = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
            else:
                raise ValueError(f"no init rule for {name} {shape}")
        new[name] = val.to(t.dtype).reshape(t.shape)
    module.load_state_dict(new)


def vocos_special(name: str, t: torch.Tensor, gen: torch.Generator) -> Optional[torch.Tensor]:
    """Vocos ISTFT head: rows [0, n_fft/2+1) predict log-magnitudes, the rest
    phases.  Keep log-magnitudes around N(-0.5, 0.8^2) so exp() stays far below
    the 1e2 clip, and give phases a wide spread."""
    if name == "head.out.weight":
        half = t.shape[0] // 2
        fan_in = t.shape[1]
        w = torch.randn(tuple(t.shape), generator=gen) / math.sqrt(fan_in)
        w[:half] *= 0.8
        w[half:] *= 2.0
        return w
    if name == "head.out.bias":
        half = t.shape[0] // 2
        b = torch.empty(t.shape)
        b[:half] = -0.5 + 0.1 * torch.randn((half,), generator=gen)
        b[half:] = (torch.rand((t.shape[0] - half,), generator=gen) * 2 - 1) * math.pi
        return b
    return None


def make_spk_stat(dim: int, gen: torch.Generator) -> str:
    """Our own speaker statistic: float16 [std(dim), mean(dim)], base16384
    encoded, the format ChatTTS' Speaker expects."""
    import pybase16384 as b14
    std = (torch.rand((dim,), generator=gen) * 0.8 + 0.4).to(torch.float16)
    mean = (torch.randn((dim,), generator=gen) * 0.5).to(torch.float16)
    raw = torch.cat([std, mean]).numpy().astype("<f2").tobytes()
    return b14.encode_to_string(raw)


def build_asset(asset_dir: Path, dims: dict, seed: int, vocab_target: Optional[int]) -> Tuple[object, int]:
    """Creates the whole asset folder.  Returns (ChatTTS Config, num_text_tokens)."""
    from transformers import LlamaConfig, LlamaModel
    from vocos import Vocos
    from vocos.pretrained import instantiate_class
    from ChatTTS.model import DVAE, Embed

    if asset_dir.exists():
        shutil.rmtree(asset_dir)
    asset_dir.mkdir(parents=True)

    # -- tokenizer ---------------------------------------------------------
    vocab = build_vocab(vocab_target)
    num_text_tokens = build_tokenizer(asset_dir / "tokenizer", vocab)
    log(f"  tokenizer: {len(vocab)} wordpiece entries + {len(CONTROL_TOKENS)} control tokens = {num_text_tokens}")

    gen = torch.Generator().manual_seed(seed)
    spk_stat = make_spk_stat(dims["gpt"]["hidden_size"], gen)
    cfg = make_config(dims, num_text_tokens, spk_stat)

    # -- GPT (HF LlamaModel) -------------------------------------------------
    llama_cfg = LlamaConfig(**asdict(cfg.gpt), vocab_size=dims["gpt"]["llama_vocab_size"])
    llama = LlamaModel(llama_cfg).eval()
    init_weights(llama, torch.Generator().manual_seed(seed + 1))
    llama.save_pretrained(str(asset_dir / "gpt"), safe_serialization=True)
    del llama

    # -- Embed: text/code embeddings and weight-normalised heads ------------
    embed = Embed(cfg.embed.hidden_size, cfg.embed.num_audio_tokens, cfg.embed.num_text_tokens,
                  cfg.embed.num_vq)
    init_weights(embed, torch.Generator().manual_seed(seed + 2))
    save_file({k: v.contiguous() for k, v in embed.state_dict().items()},
              str(asset_dir / "Embed.safetensors"), metadata={"format": "pt"})
    del embed

    # -- coef (per-mel-bin scale shared by DVAE and Decoder) ----------------
    coef_gen = torch.Generator().manual_seed(seed + 3)
    coef = (torch.rand((1, 100, 1), generator=coef_gen) + 0.5)

    def coef_special(name, t, g):
        return coef.clone() if name == "coef" else None

    # -- DVAE (encoder + GFSQ + decoder) ------------------------------------
    dvae = DVAE(decoder_config=asdict(cfg.dvae.decoder), encoder_config=asdict(cfg.dvae.encoder),
                vq_config=asdict(cfg.dvae.vq), dim=cfg.dvae.decoder.idim)
    init_weights(dvae, torch.Generator().manual_seed(seed + 4), special=coef_special)
    save_file({k: v.contiguous() for k, v in dvae.state_dict().items()},
              str(asset_dir / "DVAE.safetensors"), metadata={"format": "pt"})
    del dvae

    # -- Decoder (GPT hidden states -> mel) ---------------------------------
    decoder = DVAE(decoder_config=asdict(cfg.decoder), dim=cfg.decoder.idim)
    init_weights(decoder, torch.Generator().manual_seed(seed + 5), special=coef_special)
    save_file({k: v.contiguous() for k, v in decoder.state_dict().items()},
              str(asset_dir / "Decoder.safetensors"), metadata={"format": "pt"})
    del decoder

    # -- Vocos ----------------------------------------------------------------
    vocos = Vocos(
        feature_extractor=instantiate_class(args=(), init=asdict(cfg.vocos.feature_extractor)),
        backbone=instantiate_class(args=(), init=asdict(cfg.vocos.backbone)),
        head=instantiate_class(args=(), init=asdict(cfg.vocos.head)),
    )
    init_weights(vocos, torch.Generator().manual_seed(seed + 6), special=vocos_special)
    save_file({k: v.contiguous() for k, v in vocos.state_dict().items()},
              str(asset_dir / "Vocos.safetensors"), metadata={"format": "pt"})
    del vocos

    write_json(asset_dir.parent / "chattts_config.json", config_summary(cfg, dims))
    write_spk_stat_pt(asset_dir / "spk_stat.pt", spk_stat)
    return cfg, num_text_tokens


def write_spk_stat_pt(path: Path, spk_stat: str) -> None:
    """The Hugging Face asset form of the speaker statistics: torch.save of one
    float32 tensor [std(dim), mean(dim)], here our spk_stat string's values."""
    import pybase16384 as b14
    values = np.frombuffer(b14.decode_from_string(spk_stat), dtype="<f2").astype(np.float32)
    torch.save(torch.from_numpy(values.copy()), path)


def load_chat(asset_dir: Path, cfg):
    """Official ChatTTS.Chat on CPU with our config, loaded from asset_dir
    through Chat._load (the public load() would insist on the real sha256s)."""
    import ChatTTS

    chat = ChatTTS.Chat(quiet_logger())
    chat.config = cfg
    ok = chat._load(
        vocos_ckpt_path=str(asset_dir / "Vocos.safetensors"),
        dvae_ckpt_path=str(asset_dir / "DVAE.safetensors"),
        gpt_ckpt_path=str(asset_dir / "gpt"),
        embed_path=str(asset_dir / "Embed.safetensors"),
        decoder_ckpt_path=str(asset_dir / "Decoder.safetensors"),
        tokenizer_path=str(asset_dir / "tokenizer"),
        device=torch.device("cpu"),
        compile=False,
        coef=None,
        use_flash_attn=False,
        use_vllm=False,
        experimental=False,
        enable_cache=True,
    )
    assert ok, "official loader reports missing modules"
    return chat


# ----------------------------------------------------------------------------
# Replaying GPT.generate step by step with given tokens (teacher forcing)
# ----------------------------------------------------------------------------


class LayerTap:
    """Forward hooks that record each decoder layer's output (before the final
    RMSNorm)."""

    def __init__(self, llama):
        self.outs: List[torch.Tensor] = []
        self.handles = [layer.register_forward_hook(self._hook) for layer in llama.layers]

    def _hook(self, module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        self.outs.append(out.detach().clone())

    def reset(self):
        self.outs = []

    def remove(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def replay_gpt(chat, emb: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               feed: torch.Tensor, infer_text: bool, keep_dtype: bool = False) -> List[dict]:
    """Runs the GPT exactly like ``GPT.generate`` does (same helper for
    positions/cache positions/masks, same dtype casts, same embedding sums and
    head evaluation) but feeds the given tokens ``feed`` (B, K, num_vq)
    instead of sampling.  Forward 0 is the prefill; forward k consumes
    ``feed[:, k-1]``.  Returns one dict per forward.  With ``keep_dtype`` the
    hidden state and logits stay in the model dtype (used for the float64
    robustness check) instead of being cast to float32 like generate() does."""
    gpt = chat.gpt
    B, L, Q = input_ids.shape
    K = feed.shape[1]
    mask_cache = torch.ones((B, L + K), dtype=torch.bool)
    mask_cache[:, :L] = attention_mask.bool()
    ids_buf = torch.zeros((B, L + K, Q), dtype=input_ids.dtype)
    ids_buf[:, :L] = input_ids
    ids_buf[:, L:] = feed.to(input_ids.dtype)
    tap = LayerTap(gpt.gpt)
    past = None
    steps = []
    try:
        for i in range(K + 1):
            cur = ids_buf.narrow(1, 0, L + i)
            mi = gpt._prepare_generation_inputs(cur, past, mask_cache.narrow(1, 0, L + i))
            pos = mi.position_ids.clone()
            cpos = mi.cache_position.clone()
            if i == 0:
                x = emb
            else:
                tok = mi.input_ids
                if infer_text:
                    x = gpt.emb_text(tok[:, :, 0])
                else:
                    x = torch.stack([gpt.emb_code[q](tok[:, :, q]) for q in range(gpt.num_vq)], 3).sum(3)
                mi.input_ids = None
            mi.inputs_embeds = x
            mi.to(gpt.device_gpt, gpt.gpt.dtype)
            tap.reset()
            out = gpt.gpt(
                attention_mask=mi.attention_mask, position_ids=mi.position_ids,
                past_key_values=mi.past_key_values, inputs_embeds=mi.inputs_embeds,
                use_cache=True, output_attentions=False, cache_position=mi.cache_position,
                output_hidden_states=True,
            )
            past = out.past_key_values
            hs = out.last_hidden_state if keep_dtype else out.last_hidden_state.to(torch.float)
            layer_outs = list(tap.outs)
            # Cross-check our hooks against HF's own hidden_states tuple:
            # (embeddings, layer 0 .. layer n-2 outputs, final normed state).
            n = len(layer_outs)
            assert torch.equal(out.hidden_states[0], mi.inputs_embeds)
            for j in range(n - 1):
                assert torch.equal(out.hidden_states[j + 1], layer_outs[j])
            assert torch.equal(out.hidden_states[n], out.last_hidden_state)
            with P.cached():
                code_logits = torch.empty(hs.size(0), hs.size(1), gpt.num_audio_tokens, gpt.num_vq, dtype=hs.dtype)
                for q in range(gpt.num_vq):
                    code_logits[..., q] = gpt.head_code[q](hs)
                text_logits = gpt.head_text(hs)
            steps.append(dict(
                position_ids=pos.to(torch.int64), cache_position=cpos.to(torch.int64),
                inputs_embeds=mi.inputs_embeds.clone(), layer_outs=layer_outs, final=hs,
                code_logits_last=code_logits[:, -1].permute(0, 2, 1).contiguous(),  # (B, Q, 626)
                text_logits_last=text_logits[:, -1].contiguous(),
            ))
    finally:
        tap.remove()
    return steps


def code_margins(chat, steps: List[dict], codes: torch.Tensor, temperature: float,
                 top_p: float, top_k: int, rep: float) -> Tuple[float, float]:
    """Re-applies the official logits chain to replayed logits and checks that
    its arg-max equals the generated codes.  Returns the smallest top1-top2 gap
    (in raw-logit units, after the repetition penalty) and the smallest gap of
    the unprocessed logits."""
    from ChatTTS.model import gen_logits

    warpers, processors = gen_logits(num_code=EOS_CODE, top_P=top_p, top_K=top_k, repetition_penalty=rep)
    B, N, Q = codes.shape
    min_gap, min_raw_gap = float("inf"), float("inf")
    for i in range(N):
        raw = steps[i]["code_logits_last"].reshape(B * Q, -1).clone()
        hist = codes[:, :i].permute(0, 2, 1).reshape(B * Q, i)
        x = raw / temperature
        for p in processors:
            x = p(hist, x)
        x = x * temperature  # back to logit units (the penalty commutes with scaling)
        x[:, EOS_CODE] = -float("inf")  # min_new_token masks EOS on every step here
        r = raw.clone()
        r[:, EOS_CODE] = -float("inf")
        top = x.topk(2, dim=-1)
        assert torch.equal(top.indices[:, 0], codes[:, i].reshape(B * Q)), f"greedy mismatch at step {i}"
        min_gap = min(min_gap, float((top.values[:, 0] - top.values[:, 1]).min()))
        rt = r.topk(2, dim=-1)
        min_raw_gap = min(min_raw_gap, float((rt.values[:, 0] - rt.values[:, 1]).min()))
    return min_gap, min_raw_gap


def text_margin(steps: List[dict], ids: torch.Tensor, eos: int) -> float:
    B, N = ids.shape
    gap = float("inf")
    for i in range(N):
        x = steps[i]["text_logits_last"].clone()
        x[:, eos] = -float("inf")
        top = x.topk(2, dim=-1)
        assert torch.equal(top.indices[:, 0], ids[:, i]), f"refine greedy mismatch at step {i}"
        gap = min(gap, float((top.values[:, 0] - top.values[:, 1]).min()))
    return gap


class Capture:
    """Forward hook that stores (first positional input, output) clones."""

    def __init__(self, module):
        self.items: List[Tuple[torch.Tensor, torch.Tensor]] = []
        self.h = module.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self.items.append((args[0].detach().clone(), output.detach().clone()))

    def remove(self):
        self.h.remove()


# ----------------------------------------------------------------------------
# Reference generation
# ----------------------------------------------------------------------------

TOKENIZER_CASES = [
    "", " ", "你好", "你好，世界。", "今天天气很好！", "我们去公园散步吧，好不好？",
    "hello", "Hello World", "HELLO WORLD!!!", "This is a test.", "testing tested tests",
    "unbelievable", "chat T T S", "ChatTTS", "Hello, 世界!", "我爱chat T T S模型",
    "123", "2024年5月28日", "3.14159", "24000 Hz", "100%", "$99.99", "1,000,000",
    "a-b_c/d\\e", "\"quoted\" 'single'", "(parens) [brackets] {braces} <angle>",
    "中文，标点。！？；：“引号”‘单引号’（括号）《书名》【方括号】",
    "省略号……破折号——间隔号·", "全角～波浪", "café naïve résumé", "ÀÉÎÕÜ", "Straße",
    "emoji 😀 test", "😀😃😄", "こんにちは", "안녕하세요", "привет мир", "مرحبا", "龘靐齉",
    "multiple   spaces", "tab\tseparated", "new\nline", "crlf\r\nline", "  leading and trailing  ",
    "zero\u200bwidth", "nul\u0000char", "nbsp\u00a0space", "ideographic\u3000space",
    "[uv_break]", "[laugh]", "[lbreak]", "[v_break]", "[music]", "[Stts]", "[Ptts]", "[spk_emb]",
    "[empty_spk]", "[Sbreak]", "[Pbreak]", "[Ebreak]", "[speed_5]", "[oral_2]", "[laugh_0]",
    "[break_6]", "[Sasr][Pasr][Easr][Etts][llbreak][undefine][pure]",
    "你好[uv_break]世界", "hello[laugh]world", "hello [laugh] world", "今天[lbreak]明天",
    "[UV_BREAK] is not a control token", "[uv break]", "[uv_break", "uv_break]", "[[uv_break]]",
    "[Stts][spk_emb][speed_5]你好，欢迎使用语音合成。[Ptts]",
    "[Stts][empty_spk][speed_5]Hello world![Ptts]",
    "[Sbreak]今天天气很好[Pbreak][oral_2][laugh_0][break_6]",
    "[Stts][spk_emb][speed_5]Hello world! This is a tiny test [uv_break] of chat T T S.[Ptts]",
    "test[uv_break]test", " [laugh] ", "[laugh][laugh]", "x" * 100, "x" * 101,
    "你好" * 20, "Mixed 中英文 text, with 数字 123 and 标点！",
]
TOKENIZER_CASES += [f"[break_{i}]" for i in range(8) if i != 6]
TOKENIZER_CASES += [f"[oral_{i}]" for i in range(10) if i != 2]
TOKENIZER_CASES += [f"[speed_{i}]" for i in range(10) if i != 5]
TOKENIZER_CASES += [f"[laugh_{i}]" for i in range(1, 3)]


def gen_params(n: int, seed: int, spk_emb=None, spk_smp=None, txt_smp=None):
    """InferCodeParams for near-greedy generation of exactly n frames
    (min_new_token = max_new_token = n, so EOS can never be sampled)."""
    import ChatTTS
    return ChatTTS.Chat.InferCodeParams(
        prompt="[speed_5]", spk_emb=spk_emb, spk_smp=spk_smp, txt_smp=txt_smp,
        temperature=0.0001, top_P=0.7, top_K=20, repetition_penalty=1.05,
        min_new_token=n, max_new_token=n, manual_seed=seed, show_tqdm=False,
        ensure_non_empty=True)


def run_reference(chat, cfg, ref_dir: Path, seed: int, stats: dict) -> None:
    """Runs the official implementation on the tiny model and writes every
    reference file into ref_dir: tokenizer cases, speaker strings, the text
    path, DVAE encode/decode, end-to-end generation (batch, single, spk_smp),
    GPT teacher forcing, decoder/Vocos alone, refine text and sampler cases.
    Each generation is replayed with teacher forcing and must reproduce the
    official hidden states bit for bit; the replays also give the greedy
    margins and a float64 cross-check (stored in stats)."""
    import ChatTTS
    from ChatTTS.model import Speaker, gen_logits

    ref_dir.mkdir(parents=True, exist_ok=True)
    index: dict = {}
    meta: dict = {"seed": seed, "eos_code": EOS_CODE, "num_vq": NUM_VQ}
    H = cfg.gpt.hidden_size
    tk = chat.tokenizer
    meta["tokenizer"] = {
        "len": tk.len, "spk_emb_id": tk.spk_emb_ids, "break_0_id": tk.break_0_ids,
        "eos_id_Ebreak": tk.eos_token,
        "control_token_ids": {t: tk._tokenizer.convert_tokens_to_ids(t) for t in CONTROL_TOKENS},
    }

    # ------------------------------------------------------------------ tokenizer cases
    cases = []
    for text in TOKENIZER_CASES:
        ids_t, attn_t, _ = tk.encode([text], NUM_VQ)
        ids = ids_t[0, :, 0].tolist()
        cases.append({
            "text": text,
            "ids": ids,
            "tokens": tk._tokenizer.convert_ids_to_tokens(ids),
            "decoded": tk.decode([ids])[0] if ids else "",
        })
    write_json(ref_dir / "tokenizer_cases.json", {
        "_comment": "Official ChatTTS Tokenizer.encode(text) ids (add_special_tokens=False), "
                    "their token strings and Tokenizer.decode(ids) (skip_special_tokens=False, "
                    "clean_up_tokenization_spaces from tokenizer_config).",
        "tokenizer_len": tk.len,
        "cases": cases,
    })
    log(f"  tokenizer cases: {len(cases)}")

    # ------------------------------------------------------------------ speaker
    import pybase16384 as b14
    spk_gen = torch.Generator().manual_seed(seed + 10)
    spk_stat_768 = make_spk_stat(768, spk_gen)
    speaker_json = {"_comment": "Voice strings made by the official Speaker code. "
                                "f16_bits are the raw IEEE half bit patterns (little endian u16).",
                    "tiny": {"dim": H, "spk_stat": cfg.spk_stat}, "dim768": {"dim": 768, "spk_stat": spk_stat_768}}
    voices = {}
    for key, dim, stat in [("tiny", H, cfg.spk_stat), ("dim768", 768, spk_stat_768)]:
        spk = Speaker(dim, stat, torch.device("cpu"))
        samples = []
        for k in range(3):
            torch.manual_seed(seed + 100 + k)
            s = spk.sample_random()
            dec = Speaker._decode(s)
            samples.append({"torch_manual_seed": seed + 100 + k, "string": s,
                            "f16_bits": dec.view(np.uint16).tolist()})
        known = (np.sin(np.arange(dim, dtype=np.float64) * 0.37) * 1.5 + np.arange(dim) / dim).astype(np.float16)
        known_str = Speaker._encode(torch.from_numpy(known.copy()))
        speaker_json[key].update({
            "std_f16_bits": spk.std.numpy().view(np.uint16).tolist(),
            "mean_f16_bits": spk.mean.numpy().view(np.uint16).tolist(),
            "random_samples": samples,
            "known_vector": {"formula": "float16(sin(0.37*i)*1.5 + i/dim)",
                             "f16_bits": known.view(np.uint16).tolist(),
                             "string": known_str,
                             "lzma_raw_len": len(b14.decode_from_string(known_str))},
        })
        voices[key] = samples[0]["string"]
    prompt_codes = torch.tensor([[1, 2, 3, 624, 0, 300], [5, 5, 5, 5, 5, 5],
                                 [0, 100, 200, 300, 400, 500], [624, 623, 622, 7, 8, 9]], dtype=torch.int64)
    prompt_str = Speaker.encode_prompt(prompt_codes)
    assert torch.equal(Speaker.decode_prompt(prompt_str).long(), prompt_codes)
    speaker_json["prompt"] = {"codes": prompt_codes.tolist(), "string": prompt_str,
                              "format": "base16384( u16le shape[0], u16le shape[1], "
                                        "LZMA2-raw(preset 9|EXTREME)(u16le codes row-major) )"}
    voice = voices["tiny"]
    speaker_json["voice_used_for_reference"] = voice
    write_json(ref_dir / "speaker.json", speaker_json)

    # ------------------------------------------------------------------ text path
    N = 24
    texts = list(REFERENCE_TEXTS)
    params = gen_params(N, seed + 20, spk_emb=voice)
    decorated = Speaker.decorate_code_prompts(list(texts), params.prompt, params.txt_smp, params.spk_emb)
    input_ids, attention_mask, text_mask = tk.encode(decorated, NUM_VQ, device=torch.device("cpu"))
    emb_raw = chat.embed(input_ids, text_mask).clone()
    emb = emb_raw.clone()
    chat.speaker.apply(emb, voice, input_ids, tk.spk_emb_ids, torch.device("cpu"))
    spk_norm = torch.nn.functional.normalize(torch.from_numpy(Speaker._decode(voice)), p=2.0, dim=0, eps=1e-12)
    tp = TensorFile("text_path.safetensors")
    tp.add("input_ids", input_ids, "(B,L,4) token ids, left padded with 0, repeated over the 4 codebook slots")
    tp.add("attention_mask", attention_mask, "(B,L) 1 = real token, 0 = left padding")
    tp.add("text_mask", text_mask, "(B,L) 1 = position embedded with emb_text, 0 = with the summed emb_code")
    tp.add("emb_before_speaker", emb_raw, "(B,L,H) Embed(input_ids, text_mask) output")
    tp.add("spk_emb_normalized", spk_norm, "(H,) L2-normalised voice vector, computed in float16 as the official code does")
    tp.add("emb", emb, "(B,L,H) embeddings after Speaker.apply (rows whose id == [spk_emb] replaced)")
    meta["text_path"] = {"texts": texts, "prompt": params.prompt, "voice": voice, "decorated": decorated}

    # ------------------------------------------------------------------ speaker-sample (spk_smp) prompt path
    # A short synthetic waveform is encoded with the DVAE (official sample_audio_speaker).
    t = torch.arange(12000, dtype=torch.float64) / 24000.0
    noise = torch.randn((12000,), generator=torch.Generator().manual_seed(seed + 30), dtype=torch.float64)
    wav_in = (0.3 * torch.sin(2 * math.pi * 220.0 * t) + 0.2 * torch.sin(2 * math.pi * 523.0 * t + 0.3)
              + 0.05 * noise).to(torch.float32)
    cap_mel = Capture(chat.dvae.preprocessor_mel)
    cap_enc = Capture(chat.dvae.encoder)
    cap_down = Capture(chat.dvae.downsample_conv)
    smp_codes = chat.dvae.sample_audio(wav_in.numpy().copy()).clone()
    spk_smp = chat.sample_audio_speaker(wav_in.numpy().copy())
    assert torch.equal(Speaker.decode_prompt(spk_smp).long(), smp_codes.long())
    log_mel = cap_mel.items[0][1]
    down_in, down_out = cap_down.items[0]
    pre_vq = cap_enc.items[0][1]
    for c in (cap_mel, cap_enc, cap_down):
        c.remove()
    dv = TensorFile("dvae.safetensors")
    dv.add("encode.wav", wav_in, "(12000,) 24 kHz input waveform for DVAE encode (sample_audio_speaker)")
    dv.add("encode.log_mel", log_mel, "(100,T) log(clip(|mel|,1e-5)) before the division by coef")
    dv.add("encode.downsample_in", down_in, "(100,T) log-mel divided by coef (input of downsample_conv)")
    dv.add("encode.downsample_out", down_out, "(dim,T//2) output of downsample_conv (stride-2)")
    dv.add("encode.pre_vq", pre_vq, "(1,vq_dim,T//2) encoder output fed to GFSQ")
    dv.add("encode.codes", smp_codes, "(4,T//2) GFSQ indices, row = group*R + residual")
    meta["dvae_encode"] = {"prompt_string": spk_smp}

    txt_smp = "示例文本"
    n_smp = 8
    params_smp = gen_params(n_smp, seed + 21, spk_emb=voice, spk_smp=spk_smp, txt_smp=txt_smp)
    dec_smp = Speaker.decorate_code_prompts([texts[0]], params_smp.prompt, params_smp.txt_smp, params_smp.spk_emb)
    smp_ids, smp_attn, smp_tmask = tk.encode(dec_smp, NUM_VQ, prompt=Speaker.decode_prompt(spk_smp),
                                             device=torch.device("cpu"))
    smp_emb = chat.embed(smp_ids, smp_tmask).clone()
    chat.speaker.apply(smp_emb, voice, smp_ids, tk.spk_emb_ids, torch.device("cpu"))
    tp.add("smp.input_ids", smp_ids, "(1,L+P,4) text ids followed by the P prompt code frames (spk_smp)")
    tp.add("smp.attention_mask", smp_attn, "(1,L+P)")
    tp.add("smp.text_mask", smp_tmask, "(1,L+P) 0 on the prompt code frames")
    tp.add("smp.emb", smp_emb, "(1,L+P,H) embeddings after Speaker.apply")
    meta["text_path"]["smp"] = {"text": texts[0], "txt_smp": txt_smp, "spk_smp": spk_smp, "decorated": dec_smp}

    # ------------------------------------------------------------------ generation (infer_code)
    gen_f = TensorFile("generation.safetensors")
    cap_dec = Capture(chat.decoder)

    def generate(text_list, prm):
        res = next(chat._infer_code(list(text_list), False, torch.device("cpu"), True, prm))
        codes = torch.stack([x.clone() for x in res.ids], 0)
        hid = torch.stack([x.clone() for x in res.hiddens], 0)
        return codes, hid

    def decode(hiddens_list):
        cap_dec.items = []
        wavs = chat._decode_to_wavs([h.clone() for h in hiddens_list], True)
        (dec_in, mel), = cap_dec.items
        return dec_in, mel, torch.from_numpy(np.asarray(wavs).copy())

    margins = {}
    codes_b, hid_b = generate(texts, params)
    dec_in_b, mel_b, wav_b = decode(list(hid_b))
    gen_f.add("batch.codes", codes_b, "(B,N,4) generated codes (no EOS: min_new_token = max_new_token = N)")
    gen_f.add("batch.hiddens", hid_b, "(B,N,H) final normed GPT hidden state that produced codes[:, i]")
    gen_f.add("batch.decoder_input", dec_in_b, "(B,H,N) zero padded hidden batch given to the Decoder")
    gen_f.add("batch.mel", mel_b, "(B,100,2N) Decoder output (mel fed to Vocos)")
    gen_f.add("batch.wav", wav_b, "(B,(2N-1)*256) Vocos waveform")
    # Replay with the generated codes: must reproduce the hiddens bit for bit.
    steps_b = replay_gpt(chat, emb, input_ids, attention_mask, codes_b, infer_text=False)
    replay_h = torch.stack([s["final"][:, -1] for s in steps_b[:N]], 1)
    assert torch.equal(replay_h, hid_b), "teacher-forced replay differs from generate()"
    margins["batch"] = code_margins(chat, steps_b, codes_b, params.temperature, params.top_P, params.top_K,
                                    params.repetition_penalty)

    single_idx = 1
    params1 = gen_params(N, seed + 20, spk_emb=voice)
    codes_1, hid_1 = generate([texts[single_idx]], params1)
    dec_in_1, mel_1, wav_1 = decode(list(hid_1))
    dec1 = Speaker.decorate_code_prompts([texts[single_idx]], params1.prompt, None, voice)
    ids1, attn1, tm1 = tk.encode(dec1, NUM_VQ)
    emb1 = chat.embed(ids1, tm1).clone()
    chat.speaker.apply(emb1, voice, ids1, tk.spk_emb_ids, torch.device("cpu"))
    gen_f.add("single.input_ids", ids1, "(1,L,4) ids of the single text (no padding)")
    gen_f.add("single.emb", emb1, "(1,L,H) prefill embeddings after Speaker.apply")
    gen_f.add("single.codes", codes_1, f"(1,N,4) codes for text {single_idx} alone")
    gen_f.add("single.hiddens", hid_1, "(1,N,H)")
    gen_f.add("single.mel", mel_1, "(1,100,2N)")
    gen_f.add("single.wav", wav_1, "(1,(2N-1)*256)")
    steps_1 = replay_gpt(chat, emb1, ids1, attn1, codes_1, infer_text=False)
    assert torch.equal(torch.stack([s["final"][:, -1] for s in steps_1[:N]], 1), hid_1)
    margins["single"] = code_margins(chat, steps_1, codes_1, params1.temperature, params1.top_P,
                                     params1.top_K, params1.repetition_penalty)

    codes_s, hid_s = generate([texts[0]], params_smp)
    gen_f.add("smp.codes", codes_s, f"(1,{n_smp},4) codes with spk_smp/txt_smp prompt (text_path smp.*)")
    gen_f.add("smp.hiddens", hid_s, f"(1,{n_smp},H)")
    steps_s = replay_gpt(chat, smp_emb, smp_ids, smp_attn, codes_s, infer_text=False)
    assert torch.equal(torch.stack([s["final"][:, -1] for s in steps_s[:n_smp]], 1), hid_s)
    margins["smp"] = code_margins(chat, steps_s, codes_s, params_smp.temperature, params_smp.top_P,
                                  params_smp.top_K, params_smp.repetition_penalty)
    meta["generation"] = {
        "N": N, "n_smp": n_smp, "single_text_index": single_idx,
        "params": {"prompt": "[speed_5]", "temperature": 0.0001, "top_P": 0.7, "top_K": 20,
                   "repetition_penalty": 1.05, "min_new_token": N, "max_new_token": N,
                   "manual_seed_batch": seed + 20, "manual_seed_single": seed + 20,
                   "manual_seed_smp": seed + 21, "use_decoder": True, "skip_refine_text": True,
                   "do_text_normalization": False},
    }

    # ------------------------------------------------------------------ GPT teacher forcing
    K = 4
    feed = torch.randint(0, EOS_CODE, (len(texts), K, NUM_VQ), generator=torch.Generator().manual_seed(seed + 40))
    steps = replay_gpt(chat, emb, input_ids, attention_mask, feed, infer_text=False)
    tf = TensorFile("gpt_teacher_forcing.safetensors")
    nl = cfg.gpt.num_hidden_layers
    s0 = steps[0]
    tf.add("inputs_embeds", s0["inputs_embeds"], "(B,L,H) prefill input (= text_path emb)")
    tf.add("attention_mask", attention_mask, "(B,L) prefill mask (left padding)")
    tf.add("prefill.position_ids", s0["position_ids"], "(B,L) cumsum(mask)-1, padded slots set to 1")
    for j in range(nl):
        tf.add(f"prefill.layer_out.{j}", s0["layer_outs"][j], f"(B,L,H) output of decoder layer {j} (pre final norm)")
    tf.add("prefill.final_hidden", s0["final"], "(B,L,H) final RMSNorm output")
    tf.add("prefill.logits_code", s0["code_logits_last"], "(B,4,626) head_code[q] logits at the last position")
    tf.add("prefill.logits_text", s0["text_logits_last"], "(B,V) head_text logits at the last position")
    tf.add("steps.codes", feed, "(B,K,4) codes fed one per step after the prefill")
    tf.add("steps.inputs_embeds", torch.cat([s["inputs_embeds"] for s in steps[1:]], 1),
           "(B,K,H) sum over q of emb_code[q](codes[:,k,q])")
    tf.add("steps.position_ids", torch.cat([s["position_ids"] for s in steps[1:]], 1), "(B,K)")
    tf.add("steps.cache_position", torch.stack([s["cache_position"] for s in steps[1:]], 0).reshape(-1),
           "(K,) index of the new KV-cache slot (L + k)")
    for j in range(nl):
        tf.add(f"steps.layer_out.{j}", torch.cat([s["layer_outs"][j] for s in steps[1:]], 1),
               f"(B,K,H) decoder layer {j} output for the fed token")
    tf.add("steps.final_hidden", torch.cat([s["final"] for s in steps[1:]], 1), "(B,K,H)")
    tf.add("steps.logits_code", torch.stack([s["code_logits_last"] for s in steps[1:]], 1), "(B,K,4,626)")
    tf.add("steps.logits_text", torch.stack([s["text_logits_last"] for s in steps[1:]], 1), "(B,K,V)")
    meta["gpt_teacher_forcing"] = {"K": K, "num_layers": nl}

    # ------------------------------------------------------------------ decoder + vocos alone
    dvf = TensorFile("decoder_vocos.safetensors")
    lengths = [N, N - 7, N - 13]
    hid_list = [hid_b[i, :lengths[i]] for i in range(3)]
    dec_in, mel_d, wav_d = decode(hid_list)
    dvf.add("decoder.lengths", torch.tensor(lengths), "(3,) valid frames per item")
    dvf.add("decoder.input", dec_in, "(3,H,Tmax) hidden batch, zero padded on the right by _decode_to_wavs")
    dvf.add("decoder.mel", mel_d, "(3,100,2*Tmax) Decoder output for the padded batch")
    del wav_d
    cap_bb = Capture(chat.vocos.backbone)
    cap_head = Capture(chat.vocos.head.out)
    mel_gen = torch.Generator().manual_seed(seed + 50)
    mel_a = torch.rand((1, 100, 20), generator=mel_gen) * 10.0 - 8.0
    mel_b2 = torch.randn((2, 100, 10), generator=mel_gen) * 2.0 - 3.0
    wav_a = torch.from_numpy(chat._vocos_decode(mel_a.clone()).copy())
    wav_b2 = torch.from_numpy(chat._vocos_decode(mel_b2.clone()).copy())
    dvf.add("vocos.mel_a", mel_a, "(1,100,20) given mel")
    dvf.add("vocos.backbone_a", cap_bb.items[0][1], "(1,20,dim) VocosBackbone output (after final LayerNorm)")
    dvf.add("vocos.head_linear_a", cap_head.items[0][1], "(1,20,n_fft+2) head.out: [:513] log-magnitude, [513:] phase")
    dvf.add("vocos.wav_a", wav_a, "(1,19*256) waveform")
    dvf.add("vocos.mel_b", mel_b2, "(2,100,10) given mel (batch of 2)")
    dvf.add("vocos.wav_b", wav_b2, "(2,9*256) waveform")
    cap_bb.remove()
    cap_head.remove()

    # DVAE decode of given codes (the use_decoder=False path)
    code_gen = torch.Generator().manual_seed(seed + 60)
    c_lens = [12, 9]
    code_list = [torch.randint(0, EOS_CODE, (n, NUM_VQ), generator=code_gen) for n in c_lens]
    cap_dvae = Capture(chat.dvae)
    wavs_c = chat._decode_to_wavs([c.clone() for c in code_list], False)
    (dvae_in, dvae_mel), = cap_dvae.items
    cap_dvae.remove()
    vq_feats = chat.dvae.vq_layer._embed(dvae_in.clone())
    dv.add("decode.lengths", torch.tensor(c_lens), "(2,) valid frames per item")
    dv.add("decode.codes", dvae_in, "(2,4,Tmax) code batch, right padded with code 0 by _decode_to_wavs")
    dv.add("decode.vq_feats", vq_feats, "(2,vq_dim,Tmax) GFSQ get_output_from_indices (groups concatenated)")
    dv.add("decode.mel", dvae_mel, "(2,100,2*Tmax) DVAE decode output (already multiplied by coef)")
    dv.add("decode.wav", torch.from_numpy(np.asarray(wavs_c).copy()), "(2,(2*Tmax-1)*256) Vocos waveform")
    rv = chat.dvae.vq_layer.quantizer.rvqs[0]
    dv.add("fsq.scales", rv.scales, "(R,4) per-residual-layer scales of the installed vector_quantize_pytorch")
    dv.add("fsq.implicit_codebook", rv.layers[0].implicit_codebook, "(625,4) FSQ code values for index 0..624")

    # ------------------------------------------------------------------ refine text
    M = 12
    r_texts = ["你好世界。", "hello, this is chat T T S."]
    rparams = ChatTTS.Chat.RefineTextParams(
        prompt="[oral_2][laugh_0][break_6]", top_P=0.7, top_K=20, temperature=0.0001,
        repetition_penalty=1.0, max_new_token=M, min_new_token=M, show_tqdm=False,
        ensure_non_empty=True, manual_seed=seed + 70)
    refined = chat._refine_text(list(r_texts), torch.device("cpu"), rparams)
    r_ids = torch.stack([x.clone() for x in refined.ids], 0)
    r_dec = Speaker.decorate_text_prompts(list(r_texts), rparams.prompt)
    r_in, r_attn, r_tmask = tk.encode(r_dec, NUM_VQ)
    r_emb = chat.embed(r_in, r_tmask).clone()
    r_steps = replay_gpt(chat, r_emb, r_in, r_attn, r_ids.unsqueeze(-1).expand(-1, -1, NUM_VQ), infer_text=True)
    margins["refine"] = (text_margin(r_steps, r_ids, tk.eos_token), None)
    kept = [i[i.less(tk.break_0_ids)] for i in r_ids]
    rf = TensorFile("refine_text.safetensors")
    rf.add("input_ids", r_in[:, :, 0], "(B,L) ids of [Sbreak]{text}[Pbreak]{prompt}, left padded")
    rf.add("attention_mask", r_attn, "(B,L)")
    rf.add("emb", r_emb, "(B,L,H) emb_text embeddings (no speaker for refine)")
    rf.add("prefill.final_hidden", r_steps[0]["final"], "(B,L,H)")
    rf.add("prefill.logits_text", r_steps[0]["text_logits_last"], "(B,V)")
    rf.add("ids", r_ids, "(B,M) generated text ids (EOS [Ebreak] masked: min_new_token = M)")
    meta["refine_text"] = {
        "texts": r_texts, "decorated": r_dec, "M": M,
        "params": {"prompt": rparams.prompt, "temperature": 0.0001, "top_P": 0.7, "top_K": 20,
                   "repetition_penalty": 1.0, "min_new_token": M, "max_new_token": M,
                   "manual_seed": seed + 70},
        "kept_ids": [k.tolist() for k in kept],
        "decoded_kept": tk.decode([k.tolist() for k in kept]),
    }

    # ------------------------------------------------------------------ sampler unit cases
    sp = TensorFile("sampler.safetensors")
    sg = torch.Generator().manual_seed(seed + 80)
    sampler_meta = []

    def sampler_case(name, logits, history, penalty, top_p, top_k, temperature, eos, num_code):
        warpers, processors = gen_logits(num_code=num_code, top_P=top_p, top_K=top_k,
                                         repetition_penalty=penalty)
        rep_out = logits.clone()
        for p in processors:
            rep_out = p(history, rep_out)
        from transformers.generation import TopKLogitsWarper, TopPLogitsWarper
        topp_out = TopPLogitsWarper(top_p, min_tokens_to_keep=3)(history, logits.clone())
        topk_out = TopKLogitsWarper(top_k, min_tokens_to_keep=3)(history, logits.clone())
        # The full chain as GPT.generate runs it.
        x = logits.clone() / temperature
        for p in (*processors, *warpers):
            x = p(history, x)
        if eos is not None:
            x[:, eos] = -torch.inf
        probs = torch.softmax(x, dim=-1)
        sp.add(f"{name}.logits", logits, "(R,V) input logits")
        sp.add(f"{name}.history", history, "(R,n) previously generated ids per row (window: last 16)")
        sp.add(f"{name}.rep_penalty", rep_out, "(R,V) CustomRepetitionPenaltyLogitsProcessorRepeat output")
        sp.add(f"{name}.top_p", topp_out, "(R,V) TopPLogitsWarper(top_P, min_tokens_to_keep=3) on the raw logits; "
               "removed entries are -inf", allow_inf=True)
        sp.add(f"{name}.top_k", topk_out, "(R,V) TopKLogitsWarper(top_K, min_tokens_to_keep=3) on the raw logits; "
               "removed entries are -inf", allow_inf=True)
        sp.add(f"{name}.chain", x, "(R,V) full chain as in GPT.generate: logits/T -> penalty -> top-P -> top-K "
               "-> EOS set to -inf (when eos_masked)", allow_inf=True)
        sp.add(f"{name}.probs", probs, "(R,V) softmax of the chain output (what multinomial samples)")
        sampler_meta.append({"name": name, "penalty": penalty, "past_window": 16, "max_input_ids": num_code,
                             "top_P": top_p, "top_K": top_k, "min_tokens_to_keep": 3,
                             "temperature": temperature, "eos_masked": eos})

    # case0: code rows, history longer than the 16-token window with repeats
    lg = torch.randn((4, NUM_AUDIO_TOKENS), generator=sg) * 3.0
    hist = torch.randint(0, 40, (4, 24), generator=sg)
    sampler_case("case0", lg, hist, 1.05, 0.7, 20, 0.3, EOS_CODE, EOS_CODE)
    # case1: strongly repeated, mostly negative logits, small top_P (min_tokens_to_keep matters)
    lg = torch.randn((4, NUM_AUDIO_TOKENS), generator=sg) - 4.0
    hist = torch.tensor([[3] * 10, [3, 4] * 5, list(range(10)), [624] * 10])
    lg[:, 3] = 2.5
    lg[:, 4] = -0.5
    sampler_case("case1", lg, hist, 1.2, 0.05, 2, 1.0, EOS_CODE, EOS_CODE)
    # case2: text vocabulary rows, empty history, no penalty, EOS unmasked
    V = tk.len
    lg = torch.randn((2, V), generator=sg) * 2.0
    sampler_case("case2", lg, torch.zeros((2, 0), dtype=torch.int64), 1.0, 0.7, 20, 0.7, None, V)
    # case3: top-K ties (equal values at the k-th place are all kept).  top_P = 1.0
    # keeps everything, so the unstable sort order of ties inside top-P cannot matter.
    lg = torch.round(torch.randn((2, NUM_AUDIO_TOKENS), generator=sg) * 2.0)
    sampler_case("case3", lg, torch.randint(0, EOS_CODE, (2, 5), generator=sg), 1.05, 1.0, 20, 1.0, None, EOS_CODE)
    write_json(ref_dir / "sampler_cases.json", {"cases": sampler_meta})

    # ------------------------------------------------------------------ float64 robustness check
    # Re-run the teacher-forced replays with the GPT and Embed weights in float64
    # (float32 -> float64 -> float32 round-trips exactly, so the modules are
    # restored bit for bit afterwards).  Greedy decoding is robust when the
    # float64 arg-max equals the float32 one at every step.
    chat.gpt.gpt.double()
    chat.embed.double()
    try:
        f64 = {}
        for key, (e, ids, am, codes) in {
            "batch": (emb, input_ids, attention_mask, codes_b),
            "single": (emb1, ids1, attn1, codes_1),
            "smp": (smp_emb, smp_ids, smp_attn, codes_s),
        }.items():
            st64 = replay_gpt(chat, e.double(), ids, am, codes, infer_text=False, keep_dtype=True)
            st32 = {"batch": steps_b, "single": steps_1, "smp": steps_s}[key]
            gap64, _ = code_margins(chat, st64, codes, 0.0001, 0.7, 20, 1.05)  # asserts same arg-max
            diff = max(float((a["code_logits_last"].double() - b["code_logits_last"]).abs().max())
                       for a, b in zip(st32[:codes.shape[1]], st64[:codes.shape[1]]))
            f64[key] = {"argmax_equal": True, "min_gap_f64": gap64, "max_abs_logit_diff_f32_vs_f64": diff}
        st64 = replay_gpt(chat, r_emb.double(), r_in, r_attn, r_ids.unsqueeze(-1).expand(-1, -1, NUM_VQ),
                          infer_text=True, keep_dtype=True)
        gap64 = text_margin(st64, r_ids, tk.eos_token)
        diff = max(float((a["text_logits_last"].double() - b["text_logits_last"]).abs().max())
                   for a, b in zip(r_steps[:M], st64[:M]))
        f64["refine"] = {"argmax_equal": True, "min_gap_f64": gap64, "max_abs_logit_diff_f32_vs_f64": diff}
    finally:
        chat.gpt.gpt.float()
        chat.embed.float()
    stats["float64_replay"] = f64
    stats["logit_std_prefill_code"] = float(s0["code_logits_last"].std())

    # ------------------------------------------------------------------ stats + write out
    stats["margins"] = {k: {"min_top1_top2_after_penalty": v[0], "min_top1_top2_raw": v[1]} for k, v in margins.items()}
    meta["margins"] = stats["margins"]
    meta["sampler"] = sampler_meta

    for f in (tp, tf, gen_f, dvf, dv, rf, sp):
        f.save(ref_dir, index)
    cap_dec.remove()
    write_json(ref_dir / "meta.json", meta)
    write_json(ref_dir / "index.json", index)


def generate_all(fixtures: Path, seed: int) -> dict:
    """Builds the tiny asset folder and all reference outputs under `fixtures`."""
    setup_torch()
    tiny_dir = fixtures / "tiny"
    ref_dir = fixtures / "reference"
    for d in (tiny_dir, ref_dir):
        if d.exists():
            shutil.rmtree(d)
    log(f"building tiny asset in {tiny_dir / 'asset'}")
    cfg, ntext = build_asset(tiny_dir / "asset", TINY_DIMS, seed, None)

    torch.manual_seed(seed)
    chat = load_chat(tiny_dir / "asset", cfg)

    # Track the largest Vocos log-magnitude to prove exp() never hits the 1e2 clip.
    mag_max = {"v": -float("inf")}
    half = chat.vocos.head.out.out_features // 2

    def mag_hook(m, a, out):
        mag_max["v"] = max(mag_max["v"], float(out[..., :half].max()))

    hh = chat.vocos.head.out.register_forward_hook(mag_hook)
    stats: dict = {}
    run_reference(chat, cfg, ref_dir, seed, stats)
    hh.remove()
    stats["vocos_max_log_magnitude"] = mag_max["v"]
    stats["vocos_clip_log_magnitude"] = math.log(100.0)
    assert mag_max["v"] < math.log(100.0), "Vocos magnitude reached the exp clip"

    ver = versions()
    write_json(ref_dir / "versions.json", ver)
    write_json(ref_dir / "stats.json", stats)
    return {"stats": stats, "versions": ver}


# ----------------------------------------------------------------------------
# --check and --full-size
# ----------------------------------------------------------------------------


# Fixtures written by other generators in this folder, each with its own --check.
OTHER_GENERATORS = {"reference/normalizer_cases.json": "make_normalizer_cases.py",
                    **{f"reference/{name}": "make_speaker_fixtures.py"
                       for name in ["seed_voices.json", "spk_stat.pt", "spk_stat_dim32.pt",
                                    "spk_stat_dim32_f16.pt", "spk_stat_dim32_bf16.pt"]}}


def list_files(root: Path) -> Dict[str, str]:
    out = {}
    for sub in ("tiny", "reference"):
        base = root / sub
        if not base.exists():
            continue
        for p in sorted(base.rglob("*")):
            name = str(p.relative_to(root))
            if p.is_file() and name not in OTHER_GENERATORS:
                out[name] = sha256_file(p)
    return out


def check(fixtures: Path, seed: int) -> int:
    committed = list_files(fixtures)
    if not committed:
        print(f"no fixtures found under {fixtures}")
        return 1
    with tempfile.TemporaryDirectory(prefix="chattts-fixtures-") as tmp:
        generate_all(Path(tmp), seed)
        fresh = list_files(Path(tmp))
    bad = []
    for name in sorted(set(committed) | set(fresh)):
        a, b = committed.get(name), fresh.get(name)
        if a != b:
            bad.append((name, "missing in regenerated" if b is None else
                        "not committed" if a is None else "sha256 differs"))
    print(f"versions: {json.dumps(versions())}")
    if bad:
        print("MISMATCH:")
        for name, why in bad:
            print(f"  {name}: {why}")
        return 1
    print(f"OK: {len(committed)} files identical (sha256)")
    return 0


def full_size(out_dir: Path, seed: int) -> None:
    """Random-weight model with the real ChatTTS dimensions, smoke-tested with
    the official code (a few synthesis steps)."""
    import ChatTTS

    setup_torch()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    t0 = time.time()
    cfg, ntext = build_asset(out_dir / "asset", FULL_DIMS, seed, FULL_NUM_TEXT_TOKENS - len(CONTROL_TOKENS))
    assert ntext == FULL_NUM_TEXT_TOKENS, ntext
    total = sum(p.stat().st_size for p in (out_dir / "asset").rglob("*") if p.is_file())
    log(f"wrote {out_dir / 'asset'}: {total / 1e6:.1f} MB in {time.time() - t0:.1f}s")

    t1 = time.time()
    torch.manual_seed(seed)
    chat = load_chat(out_dir / "asset", cfg)
    log(f"official loader OK in {time.time() - t1:.1f}s")
    voice = chat.speaker.sample_random()
    params = gen_params(6, seed, spk_emb=voice)
    t2 = time.time()
    res = next(chat._infer_code(["你好，欢迎使用语音合成。", "Hello world!"], False, torch.device("cpu"), True, params))
    wavs = chat._decode_to_wavs([h.clone() for h in res.hiddens], True)
    codes = [x.tolist()[:2] for x in res.ids]
    log(f"synthesised {len(res.ids)} x {res.ids[0].shape[0]} steps -> wav {np.asarray(wavs).shape} "
        f"in {time.time() - t2:.1f}s; first codes {codes}")
    assert np.isfinite(np.asarray(wavs)).all()
    refined = chat._refine_text(["你好"], torch.device("cpu"), ChatTTS.Chat.RefineTextParams(
        temperature=0.0001, max_new_token=3, min_new_token=3, show_tqdm=False, manual_seed=seed))
    log(f"refine ids {refined.ids[0].tolist()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=DEFAULT_FIXTURES,
                    help="fixture root (default: Tests/Fixtures of this repository)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare sha256 with the files in --out")
    ap.add_argument("--full-size", type=Path, metavar="OUT_DIR",
                    help="write a random model with the real dimensions to OUT_DIR/asset (~1.2 GB)")
    args = ap.parse_args()

    if args.full_size is not None:
        full_size(args.full_size, args.seed)
        return 0
    if args.check:
        return check(args.out, args.seed)
    res = generate_all(args.out, args.seed)
    files = list_files(args.out)
    total = 0
    for name in files:
        size = (args.out / name).stat().st_size
        total += size
        print(f"  {size:>9}  {name}")
    print(f"total {total} bytes")
    print("versions:", json.dumps(res["versions"]))
    print("stats:", json.dumps(res["stats"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
