"""The real `runpod` SDK's calls against the fake RunPod API (RUNPOD_API_BASE_URL): each
returns what the SDK expects, in the shapes it reads. Prints one JSON object on stdout."""

import json
import os
import subprocess
import sys
import time

import runpod
from runpod import error

runpod.api_key = os.environ["SDK_KEY"]
out = {"version": getattr(runpod, "__version__", "")}

gpus = runpod.get_gpus()
out["gpu_ids"] = [g["id"] for g in gpus]
assert all(set(g) == {"id", "displayName", "memoryInGb"} for g in gpus), gpus

a6000 = runpod.get_gpu("NVIDIA RTX A6000")
out["a6000_price"] = a6000["lowestPrice"]["uninterruptablePrice"]
out["a6000_display"] = a6000["displayName"]

pub = open(os.environ["SDK_PUBKEY"]).read().strip()
pod = runpod.create_pod(
    name="runplz-sdk-check",
    image_name="debian:12",
    gpu_type_id="NVIDIA RTX A6000",
    support_public_ip=True,
    ports="22/tcp",
    container_disk_in_gb=20,
    env={"PUBLIC_KEY": pub},
)
pid = pod["id"]
out["created"] = {"id_len": len(pid), "env": pod["env"], "podHostId": pod["machine"]["podHostId"]}

deadline = time.time() + 30
while True:
    p = runpod.get_pod(pid)
    ports = (p.get("runtime") or {}).get("ports") or []
    pub22 = [x for x in ports if x["privatePort"] == 22 and x["isIpPublic"]]
    if pub22:
        break
    assert time.time() < deadline, p
    time.sleep(0.2)
out["pod"] = {"desiredStatus": p["desiredStatus"], "costPerHr": p["costPerHr"], "gpu": p["machine"]["gpuDisplayName"]}
ssh = subprocess.run(
    ["ssh", "-i", os.environ["SDK_PUBKEY"][: -len(".pub")], "-p", str(pub22[0]["publicPort"]),
     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
     "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "root@" + pub22[0]["ip"], "echo $RUNPOD_POD_ID"],
    capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
)
out["ssh"] = ssh.stdout.strip()

out["listed"] = [x["name"] for x in runpod.get_pods()]
out["stopped"] = runpod.stop_pod(pid)["desiredStatus"]
out["resumed"] = runpod.resume_pod(pid, 1)["desiredStatus"]
runpod.terminate_pod(pid)
out["after_terminate"] = runpod.get_pod(pid)

try:
    runpod.create_pod(name="runplz-sdk-nocap", image_name="debian:12", gpu_type_id="NVIDIA A40")
    out["nocap"] = None
except error.QueryError as e:
    out["nocap"] = str(e)

runpod.api_key = "rpa_WRONG"
try:
    runpod.get_gpus()
    out["unauthorized"] = None
except error.AuthenticationError as e:
    out["unauthorized"] = str(e)

print(json.dumps(out))
