#!/usr/bin/python3
"""A Kubernetes pod's life through containerd's CRI plugin with the tether runtime handler,
as a kubelet drives it: RunPodSandbox, CreateContainer, StartContainer, ContainerStatus
(with exit codes), ExecSync, ContainerStats, StopContainer, RemoveContainer,
StopPodSandbox, RemovePodSandbox. Checks what each answers, and that the pod's containers
share one shim process that goes away with the pod.

Usage: cri_pod.py SOCKET HANDLER IMAGE LOG_DIR   (run by it_ctrd_cri with Debian's
/usr/bin/python3, which has grpcio and grpc_tools; the stubs are generated from api.proto
next to this file into a temporary directory). Prints "SANDBOX <id>" once the pod exists.
Exits 0 when every check held, 1 with the reason otherwise.
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_stubs(out):
    from grpc_tools import protoc
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", "-I" + HERE, "-I" + include, "--python_out=" + out,
                      "--grpc_python_out=" + out, os.path.join(HERE, "api.proto")])
    if rc != 0:
        raise SystemExit("protoc failed on api.proto")
    sys.path.insert(0, out)
    import api_pb2
    import api_pb2_grpc
    return api_pb2, api_pb2_grpc


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def shims(socket):
    """The tether shims serving the containerd at socket."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"containerd-shim-tether-v2") for a in argv[:1]) and \
                socket.encode() in argv:
            found.append(int(pid))
    return found


def wait_for(fn, what, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def main():
    socket, handler, image, log_dir = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        pb, rpc = load_stubs(tmp)
        import grpc

        channel = grpc.insecure_channel("unix://" + socket)
        rt = rpc.RuntimeServiceStub(channel)

        v = rt.Version(pb.VersionRequest(version="v1"), timeout=30)
        check(v.runtime_name == "containerd", "runtime name %r" % v.runtime_name)

        # Host network: no CNI needed (and then no hostname may be set).
        ns = pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)
        sandbox_config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="web", uid="uid-web-1", namespace="tether-test"),
            log_directory=log_dir,
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))
        sandbox = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config,
                                                           runtime_handler=handler),
                                   timeout=60).pod_sandbox_id
        print("SANDBOX", sandbox, flush=True)
        check(len(shims(socket)) == 1, "one shim for the sandbox")

        def create(name, command):
            config = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image),
                command=command, log_path=name + ".log",
                envs=[pb.KeyValue(key="PATH", value="/bin")],
                linux=pb.LinuxContainerConfig(
                    security_context=pb.LinuxContainerSecurityContext(namespace_options=ns)))
            return rt.CreateContainer(pb.CreateContainerRequest(
                pod_sandbox_id=sandbox, config=config, sandbox_config=sandbox_config),
                timeout=60).container_id

        def status(cid):
            return rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid),
                                      timeout=30).status

        # A long-running container that turns TERM into exit 7.
        app = create("app", ["sh", "-c",
                             "echo started; trap 'echo stopping; exit 7' TERM; "
                             "while true; do sleep 0.2; done"])
        rt.StartContainer(pb.StartContainerRequest(container_id=app), timeout=60)
        check(status(app).state == pb.CONTAINER_RUNNING, "app running")
        # The pod's containers share its shim.
        check(len(shims(socket)) == 1, "app served by the sandbox's shim, not one of its own")

        r = rt.ExecSync(pb.ExecSyncRequest(container_id=app, timeout=30, cmd=[
            "sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"]), timeout=60)
        check(r.exit_code == 5, "ExecSync exit code %d" % r.exit_code)
        check(r.stdout == b"exec-out\n", "ExecSync stdout %r" % r.stdout)
        check(r.stderr == b"exec-err\n", "ExecSync stderr %r" % r.stderr)

        stats = rt.ContainerStats(pb.ContainerStatsRequest(container_id=app), timeout=30).stats
        check(stats.cpu.usage_core_nano_seconds.value > 0, "cpu usage in the stats")
        check(stats.memory.usage_bytes.value > 0, "memory usage in the stats")
        check(stats.memory.working_set_bytes.value <= stats.memory.usage_bytes.value,
              "working set within usage")

        # A container that ends by itself, with its own exit code.
        quick = create("quick", ["sh", "-c", "echo bye; exit 3"])
        rt.StartContainer(pb.StartContainerRequest(container_id=quick), timeout=60)
        st = wait_for(lambda: (lambda s: s if s.state == pb.CONTAINER_EXITED else None)(
            status(quick)), "quick to exit")
        check(st.exit_code == 3, "quick exit code %d" % st.exit_code)
        check(st.finished_at > 0, "quick finished_at")
        check(len(shims(socket)) == 1, "still one shim")
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=quick), timeout=60)

        rt.StopContainer(pb.StopContainerRequest(container_id=app, timeout=10), timeout=60)
        st = status(app)
        check(st.state == pb.CONTAINER_EXITED, "app exited after StopContainer")
        check(st.exit_code == 7, "app exit code %d (its TERM handler)" % st.exit_code)
        with open(os.path.join(log_dir, "app.log")) as f:
            log = f.read()
        check("started" in log and "stopping" in log, "the app's log: %r" % log)
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=app), timeout=60)

        # The pod's shim still serves the sandbox, and goes with it.
        check(len(shims(socket)) == 1, "the sandbox's shim is still there")
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox), timeout=60)
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox), timeout=60)
        wait_for(lambda: not shims(socket), "the pod's shim to go", timeout=20)
        channel.close()
    print("CRI pod: all checks held", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAILED:", e, flush=True)
        sys.exit(1)
