"""Rebuild SmolLM2's tokenizer.json from the GGUF vocab and merges.

transformers' GGUF converter gets this tokenizer wrong (prepends BOS <|im_start|>, eos <|im_start|>,
no digit splitting, SentencePiece-style decoder) and the model then answers nonsense. SmolLM2's real
layout: BPE, Digits(individual) + ByteLevel pre-tokenizer, ByteLevel decoder, no BOS, 17 special
tokens (ids 0..16), eos = pad = <|im_end|> (id 2)."""
import json
from pathlib import Path

N_SPECIAL = 17
EOS = "<|im_end|>"


def gguf_tokenizer_fields(gguf_path: Path) -> dict:
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def string(key):
        field = reader.fields.get(key)
        return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")

    return {
        "tokens": strings("tokenizer.ggml.tokens"),
        "merges": strings("tokenizer.ggml.merges"),
        "chat_template": string("tokenizer.chat_template"),
    }


def build_tokenizer(fields: dict):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate(fields["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in fields["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in fields["tokens"][:N_SPECIAL]])
    return tok


def write_tokenizer(gguf_path: Path, out_dir: Path) -> None:
    fields = gguf_tokenizer_fields(gguf_path)
    tok = build_tokenizer(fields)
    tok.save(str(out_dir / "tokenizer.json"))
    specials = fields["tokens"][:N_SPECIAL]
    config = {
        "add_prefix_space": False,
        "additional_special_tokens": specials[1:3],
        "bos_token": "<|im_start|>",
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 8192,
        "tokenizer_class": "GPT2Tokenizer",
        "vocab_size": len(fields["tokens"]),
        "chat_template": fields["chat_template"],
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<|im_start|>", "eos_token": EOS, "pad_token": EOS, "unk_token": "<|endoftext|>",
         "additional_special_tokens": specials[1:3]}, indent=2) + "\n")
