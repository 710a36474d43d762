"""Scripts run *inside* a tool environment, by path: stdlib plus that tool only. They never
import internpipe (internpipe imports jsonstream.py from here, so a data file is read
the same way on both sides)."""
