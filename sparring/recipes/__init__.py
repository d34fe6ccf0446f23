"""Recipe registry."""

from sparring.recipes.base import Recipe, TrainResult
from sparring.registry import Registry

RECIPES: Registry[Recipe] = Registry("recipe", "sparring.recipes")
RECIPES.register("rest-em", "sparring.recipes.rest_em:RECIPE",
                 "rejection-sampling SFT (ReST-EM / STaR / RFT): fine-tune on verified samples")
RECIPES.register("dpo", "sparring.recipes.dpo:RECIPE",
                 "DPO on pairs of the model's own answers to one prompt: the better-scored one chosen (DPO from outcomes)")
RECIPES.register("spin", "sparring.recipes.spin:RECIPE",
                 "SPIN: DPO of the reference answer over the model's own, the previous round's model as reference")
RECIPES.register("selfplay", "sparring.recipes.selfplay:RECIPE",
                 "SFT on the turns of games with a positive role-conditioned advantage (SPIRAL); shared or per-role")
RECIPES.register("expert-iteration", "sparring.recipes.expert_iteration:RECIPE",
                 "learn the moves of a tree search at the positions the policy met (listwise move loss, SFT on the "
                 "best move, or DPO best over worst)")
RECIPES.register("reinforce", "sparring.recipes.reinforce:RECIPE",
                 "policy gradient that keeps losses (SPIRAL): PPO-clip per token with role-conditioned or group-mean "
                 "advantages")

__all__ = ["RECIPES", "Recipe", "TrainResult"]
