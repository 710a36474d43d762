"""Scripts run *inside* a tool environment, by path: stdlib plus that tool only. They never
import internpipe."""
