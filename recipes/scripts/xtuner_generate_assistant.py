# The InternLM course's data generator for the XTuner "personal assistant" lesson (camp3,
# InternLM/Tutorial tools/xtuner_generate_assistant.py), kept as the course writes it: a JSON
# list (indent 4) of 16,002 XTuner `conversation` records. Two changes: the file goes to
# data/assistant.json beside this folder's recipes (the course: datas/assistant.json in the
# cwd), and the name may be given as an argument:
#
#   python scripts/xtuner_generate_assistant.py "你的名字"
import json
import os
import sys

# 设置用户的名字
name = sys.argv[1] if len(sys.argv) > 1 else '伍鲜同志'
# 设置需要重复添加的数据次数
n = 8000

# 初始化数据
data = [
    {"conversation": [{"input": "请介绍一下你自己", "output": "我是{}的小助手，内在是上海AI实验室书生·浦语的1.8B大模型哦".format(name)}]},
    {"conversation": [{"input": "你在实战营做什么", "output": "我在这里帮助{}完成XTuner微调个人小助手的任务".format(name)}]}
]

# 通过循环，将初始化的对话数据重复添加到data列表中
for i in range(n):
    data.append(data[0])
    data.append(data[1])

# 将data列表中的数据写入到'data/assistant.json'文件中
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'assistant.json')
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, 'w', encoding='utf-8') as f:
    # 使用json.dump方法将数据以JSON格式写入文件
    # ensure_ascii=False 确保中文字符正常显示
    # indent=4 使得文件内容格式化，便于阅读
    json.dump(data, f, ensure_ascii=False, indent=4)
print(f"wrote {os.path.normpath(out)}: {len(data)} records")
