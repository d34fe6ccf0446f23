"""Recipe registry."""

from sparring.recipes.base import Recipe, TrainResult
from sparring.registry import Registry

RECIPES: Registry[Recipe] = Registry("recipe")
RECIPES.register("rest-em", "sparring.recipes.rest_em:RECIPE",
                 "rejection-sampling SFT (ReST-EM / STaR / RFT): fine-tune on verified samples")
RECIPES.register("selfplay", "sparring.recipes.selfplay:RECIPE",
                 "SFT on the turns of games with a positive role-conditioned advantage (SPIRAL); shared or per-role")

__all__ = ["RECIPES", "Recipe", "TrainResult"]
