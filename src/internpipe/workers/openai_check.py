"""One real chat completion through the official `openai` client (inside a tool env).

    python openai_check.py BASE_URL MODEL [API_KEY_ENV]

Prints one JSON line {"reply", "seconds", "usage"}; exit 1 with internpipe-error on failure.
"""

import json
import os
import sys
import time


def main() -> int:
    from openai import OpenAI

    base_url, model = sys.argv[1], sys.argv[2]
    key = os.environ.get(sys.argv[3], "") if len(sys.argv) > 3 else ""
    client = OpenAI(base_url=base_url, api_key=key or "EMPTY", max_retries=0, timeout=120)
    t0 = time.monotonic()
    try:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hello, who are you?"}],
            max_tokens=8, temperature=0)
    except Exception as exc:  # the client's own error, stated plainly
        print(f"internpipe-error: the smoke request to {base_url} failed: "
              f"{type(exc).__name__}: {exc}", flush=True)
        return 1
    usage = reply.usage.model_dump() if reply.usage else None
    print(json.dumps({"reply": reply.choices[0].message.content,
                      "seconds": round(time.monotonic() - t0, 3), "usage": usage}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
