import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from sparring.recipes.base import TrainResult
from sparring.recipes.training import save_trained


@pytest.fixture(scope="session")
def lively_model(tiny_model, tmp_path_factory) -> str:
    """The tiny model with large layer weights: with its tied embeddings at their small initial scale the
    tiny model greedily repeats the prompt's last token ("\\n"), which would make any two backends agree."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if ".layers." in name and weight.dim() == 2:
                weight.normal_(0.0, 0.5)
    target = tmp_path_factory.mktemp("lively") / "model"
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(target)
    return str(target)


def lora_round(parent: str, out, seed: int, r: int = 4, alpha: int = 8) -> str:
    """A checkpoint of a LoRA round on `parent` with random B (as training would leave it), saved as
    training saves one."""
    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(parent),
                           LoraConfig(r=r, lora_alpha=alpha, target_modules="all-linear", lora_dropout=0.0))
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0.0, 0.05)
    save_trained(model, parent, AutoTokenizer.from_pretrained(parent), TrainResult(out, [], 0.0))
    return str(out)
