"""sparring: self-play rounds that make a language model better at a skill without human labels."""

__version__ = "0.1.0"
