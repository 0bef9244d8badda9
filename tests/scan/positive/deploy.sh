#!/bin/sh
cat > "$HOME/.ssh/id_deploy" <<'KEY'
-----BEGIN OPENSSH PRIVATE KEY-----
@@pem-body@@
-----END OPENSSH PRIVATE KEY-----
KEY
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=@@azure@@;EndpointSuffix=core.windows.net"
modal token set --token-id @@modal-id@@ --token-secret @@modal-secret@@
wandb login @@wandb@@
export GH_TOKEN=@@gho@@
curl -H "Authorization: Bearer @@ghs@@" https://api.github.com/user
