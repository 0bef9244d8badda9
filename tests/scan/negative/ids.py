import os
request_id = "123e4567-e89b-12d3-a456-426614174000"
commit = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
CACHE_KEY = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
from sklearn import svm  # pip install sk-learn
KEY = os.environ["KEY"]
HF_TOKEN = os.environ.get("HF_TOKEN")
token = "hf_xxx"
OPENAI_API_KEY = "<your-token>"
api_key = "sk-..."
SECRET_KEY = settings.SECRET_KEY
password = "changeme"
db_password = getpass.getpass()
ssh_key_path = "~/.ssh/id_ed25519_runplz"
model_key = "meta-llama/Llama-2-7b-hf"
tokenizer_name = "bert-base-uncased-v2-2024"
hf_hub_download(repo_id="org/model", filename="model-00001-of-00004.safetensors")
aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"
aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
PASSWORD_MIN_LENGTH = 12
version = "1.2.3-rc.1+build.20240101"
signature_key = f"{user}-{run_id}"
sk = "sk-learn-and-scikit-learn-are-different"
rifle = "ak-47"
npm_config_cache = "/tmp/npm_cache_1234567890"
SESSION_TOKEN = None
