"""Adaptation (适配): does a candidate build of a model (other chip, dtype, quantization) still match its reference?"""
