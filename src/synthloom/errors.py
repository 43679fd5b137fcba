"""Errors a user can fix. The CLI prints their message on one line and exits with code 2."""


class UserInputError(ValueError):
    """Bad input from the user: a recipe, a data file, a flag. The message names what is wrong."""


class GenerationError(RuntimeError):
    """A run cannot go on (e.g. the model produced no usable plan). Finished work is kept."""
