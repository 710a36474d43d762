"""The three-stage chain of test-only kinds that the plan and run tests share:
src (reads input.txt) → up (appends "!") → up2 (appends "?")."""

CHAIN = """\
version: 1
name: chain
stages:
  src:
    uses: source
    text: hello
    file: input.txt
  up:
    uses: transform
    suffix: "!"
  up2:
    uses: transform
    suffix: "?"
"""
