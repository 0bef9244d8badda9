import os
HF_TOKEN = "@@hf@@"
openai.api_key = "@@openai@@"
client = Anthropic(api_key="@@anthropic@@")
GITHUB = '@@ghp@@'
stripe.api_key = '@@stripe@@'
SECRET_KEY = "@@generic@@"
db_password = '@@generic@@'
