"""A local causal LM (transformers) as a batched chat generator."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

from sbert_med.data.llm.base import GenerationFailure, LLMGenerator, Messages

logger = logging.getLogger(__name__)


class TransformersGenerator(LLMGenerator):
    """Generate chat replies with a local causal language model, in left-padded batches.

    Prompts are rendered with the tokenizer's chat template (``add_generation_prompt=True``, or
    ``continue_final_message=True`` when the conversation ends with an unfinished assistant turn, a prompt's
    ``response_prefix``); pass ``chat_template`` for a model without one. Greedy decoding when ``temperature == 0``,
    else sampling with ``transformers.set_seed`` applied to every batch (seed + batch number), so a rerun reproduces
    the same outputs. Conversations are sorted by prompt length before batching (less padding; outputs still come
    back under their own index). ``stats`` counts replies, generated tokens and seconds spent in ``generate``;
    :meth:`throughput` gives replies per minute.

    Args:
        model_name_or_path: a local folder or Hub id of a causal LM with a tokenizer.
        max_new_tokens: the most tokens generated per reply.
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling when ``temperature > 0``.
        repetition_penalty: ``generate``'s repetition penalty (1.0: none).
        batch_size: conversations per ``generate`` call.
        seed: base seed; recorded in every row's provenance.
        device: torch device (default: cuda if available, else cpu).
        torch_dtype: e.g. ``torch.bfloat16`` on GPU (default: float32).
        chat_template: a Jinja chat template overriding (or supplying) the tokenizer's.
        show_progress_bar: a progress bar over batches.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        top_p: float = 0.95,
        repetition_penalty: float = 1.0,
        batch_size: int = 8,
        seed: int = 42,
        device: str | None = None,
        torch_dtype: torch.dtype | None = None,
        chat_template: str | None = None,
        show_progress_bar: bool = True,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(model_name=str(model_name_or_path), max_new_tokens=max_new_tokens,
                         temperature=temperature, seed=seed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty!r}")
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.stats = {"replies": 0, "new_tokens": 0, "seconds": 0.0}
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        if chat_template is not None:
            self.tokenizer.chat_template = chat_template
        if not self.tokenizer.chat_template:
            raise ValueError(f"the tokenizer of {model_name_or_path!r} has no chat template; pass chat_template=...")
        self.tokenizer.padding_side = "left"  # decoder-only generation needs the prompt to end at the last column
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_name_or_path, dtype=torch_dtype or torch.float32)
        self.model.to(self.device).eval()

    def render(self, conversation: Messages) -> str:
        """The prompt text the model sees for ``conversation``."""
        if conversation and conversation[-1]["role"] == "assistant":  # continue a started reply
            return self.tokenizer.apply_chat_template(conversation, continue_final_message=True, tokenize=False)
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def throughput(self) -> float | None:
        """Replies per minute of ``generate`` time so far (None before the first batch)."""
        if not self.stats["seconds"]:
            return None
        return 60.0 * self.stats["replies"] / self.stats["seconds"]

    @torch.inference_mode()
    def stream(self, conversations: list[Messages]) -> Iterator[tuple[int, str | GenerationFailure]]:
        from transformers import set_seed

        rendered = [self.render(conversation) for conversation in conversations]
        lengths = [len(ids) for ids in self.tokenizer(rendered, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(rendered)), key=lambda index: (lengths[index], index))
        starts = range(0, len(order), self.batch_size)
        progress = tqdm(starts, desc="Generating", disable=not self.show_progress_bar)
        for batch_number, start in enumerate(progress):
            batch = order[start : start + self.batch_size]
            prompts = [rendered[index] for index in batch]
            inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = inputs.to(self.device)
            options = {"max_new_tokens": self.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
            if self.repetition_penalty != 1.0:
                options["repetition_penalty"] = self.repetition_penalty
            if self.temperature > 0:
                set_seed(self.seed + batch_number)
                options.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
            else:
                options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            began = time.perf_counter()
            try:
                generated = self.model.generate(**inputs, **options)
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: the batch stays unfinished
                logger.warning("generation failed for a batch of %d: %s", len(batch), exc)
                for index in batch:
                    yield index, GenerationFailure(f"{type(exc).__name__}: {exc}")
                continue
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            self.stats["seconds"] += time.perf_counter() - began
            self.stats["replies"] += len(batch)
            self.stats["new_tokens"] += int((new_tokens != self.tokenizer.pad_token_id).sum())
            progress.set_postfix(replies_per_min=f"{self.throughput():.1f}")
            for index, text in zip(batch, self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                yield index, text.strip()

    def provenance(self) -> dict:
        return {**super().provenance(), "top_p": self.top_p if self.temperature > 0 else None,
                "repetition_penalty": self.repetition_penalty}
