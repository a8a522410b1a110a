"""The `aipol` command: check, compile, test, fmt and up.

Errors in a policy print as `file:line:col`, the source line and a caret,
never as a Python traceback; the exit status is 1 for a policy error or a
failed test, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from aipol.dsl.errors import AipolError


def _cmd_check(args: argparse.Namespace) -> int:
    from aipol.compiler import pipeline

    policy = pipeline.check_file(args.file)
    routes = len(policy.routes)
    print(
        f"{args.file}: ok ({len(policy.backends)} backends, {routes} routes, "
        f"{len(policy.principals)} principals, {len(policy.tests)} tests)"
    )
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from aipol.compiler import pipeline

    out = Path(args.out) if args.out else Path("out") / Path(args.file).stem
    artifacts = pipeline.compile_file(args.file, out)
    if args.validate:
        from aipol.envoy.validate import validate

        validate(artifacts.envoy_path)
    wasm = artifacts.manifest["artifacts"]["filter.wasm"]
    print(f"wrote {out}/filter.wasm ({wasm['bytes']} bytes, sha256 {wasm['sha256'][:16]}...)")
    print(f"wrote {out}/envoy.yaml, {out}/manifest.json, {out}/policy.c, {out}/ir.json")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from aipol.compiler import pipeline, policytest
    from aipol.wasm_runtime import Harness

    ok = True
    for file in args.files:
        policy = pipeline.check_file(file)
        with tempfile.TemporaryDirectory(prefix="aipol-test-") as tmp:
            wasm = pipeline.build_wasm(pipeline.generate_c(policy), Path(tmp))
            from aipol.compiler.plugin_config import render_plugin_config

            harness = Harness.load(
                wasm,
                plugin_config=render_plugin_config(policy).encode(),
                max_request_bytes=policy.buffer_limit,
            )
            ok = policytest.report(file, policy, harness, sys.stdout) and ok
    return 0 if ok else 1


def _cmd_fmt(args: argparse.Namespace) -> int:
    from aipol.dsl.formatter import format_source

    status = 0
    for file in args.files:
        path = Path(file)
        text = path.read_text(encoding="utf-8")
        formatted = format_source(text, str(path))
        if args.check:
            if formatted != text:
                print(f"{file}: would reformat")
                status = 1
        elif args.write:
            if formatted != text:
                path.write_text(formatted, encoding="utf-8")
                print(f"reformatted {file}")
        else:
            sys.stdout.write(formatted)
    return status


def _cmd_up(args: argparse.Namespace) -> int:
    from aipol.envoy.up import run_up

    return run_up(
        args.file,
        mock=not args.no_mock,
        docker=args.docker,
        out_dir=Path(args.out) if args.out else None,
        concurrency=args.concurrency,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aipol", description="AI gateway policies compiled for stock Envoy."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="parse and check a policy")
    p.add_argument("file")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("compile", help="compile to filter.wasm, envoy.yaml and a manifest")
    p.add_argument("file")
    p.add_argument("-o", "--out", help="output folder (default: out/<policy name>)")
    p.add_argument(
        "--validate", action="store_true", help="also run `envoy --mode validate` on the bootstrap"
    )
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("test", help="run the policy's test blocks in the harness")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_cmd_test)

    p = sub.add_parser("fmt", help="print the canonical form of a policy")
    p.add_argument("files", nargs="+")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-w", "--write", action="store_true", help="rewrite the files in place")
    group.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    p.set_defaults(func=_cmd_fmt)

    p = sub.add_parser("up", help="compile and run the gateway on stock Envoy")
    p.add_argument("file")
    p.add_argument(
        "--no-mock",
        action="store_true",
        help="send traffic to the real backend urls instead of the embedded mock provider",
    )
    p.add_argument("--docker", action="store_true", help="run the envoyproxy/envoy image")
    p.add_argument("-o", "--out", help="artifacts folder (default: a temporary folder)")
    p.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads")
    p.set_defaults(func=_cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AipolError as err:
        print(str(err), file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        print(f"aipol: {err.filename}: no such file", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - last line of defence: no tracebacks for users
        if os.environ.get("AIPOL_DEBUG"):
            raise
        name = type(err).__name__
        print(f"aipol: {args.command} failed: {name}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
