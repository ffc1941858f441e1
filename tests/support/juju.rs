//! Stand-in Juju hook tools: real executables (`relation-ids`, `relation-list`,
//! `relation-get`, `relation-set`, `is-leader`) over a JSON model of the relation state, with
//! Juju's output formats, exit codes, leader-only writes and permission errors.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const STAND_IN: &str = r#"#!/usr/bin/env python3
import json, os, sys, time

tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
here = os.path.dirname(os.path.abspath(sys.argv[0]))
state_path = os.path.join(here, "state.json")
with open(state_path) as f:
    state = json.load(f)
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(" ".join([tool] + args) + "\n")

behaviour = state.get("behaviour", {}).get(tool)
if behaviour == "hang":
    time.sleep(3600)
if behaviour == "garbage":
    print("}{ this is not json")
    sys.exit(0)
if behaviour == "fail":
    sys.stderr.write("ERROR connection to the controller lost\n")
    sys.exit(2)
if behaviour == "permission-denied":
    sys.stderr.write("ERROR permission denied\n")
    sys.exit(1)

def out(value):
    print(json.dumps(value))

def option(flag):
    return args[args.index(flag) + 1]

def relation():
    rid = option("-r")
    rel = state["relations"].get(rid)
    if rel is None:
        sys.stderr.write('ERROR invalid value "%s" for option -r: relation not found\n' % rid)
        sys.exit(2)
    return rel

if tool == "is-leader":
    out(bool(state.get("leader")))
elif tool == "relation-ids":
    name = args[0]
    out([rid for rid, rel in state["relations"].items() if rel["name"] == name])
elif tool == "relation-list":
    rel = relation()
    out(rel.get("remote_app") if "--app" in args else rel.get("remote_units", []))
elif tool == "relation-get":
    rel = relation()
    positional = [a for a in args if not a.startswith("-") and a != option("-r")]
    app = positional[-1]
    if app == state["app"]:
        if not state.get("leader"):
            sys.stderr.write("ERROR permission denied\n")
            sys.exit(1)
        out(rel.get("local_app_data", {}))
    elif app == rel.get("remote_app"):
        out(rel.get("remote_app_data", {}))
    else:
        sys.stderr.write("ERROR application %s not found in relation\n" % app)
        sys.exit(2)
elif tool == "status-set":
    state["status"] = args
    with open(state_path, "w") as f:
        json.dump(state, f)
elif tool == "relation-set":
    rel = relation()
    if "--app" in args and not state.get("leader"):
        sys.stderr.write("ERROR permission denied\n")
        sys.exit(1)
    for pair in [a for a in args if "=" in a and not a.startswith("-")]:
        key, value = pair.split("=", 1)
        rel.setdefault("local_app_data", {})[key] = value
    with open(state_path, "w") as f:
        json.dump(state, f)
else:
    sys.stderr.write("stand-in: unknown tool %s\n" % tool)
    sys.exit(127)
"#;

const TOOLS: &[&str] = &[
    "relation-ids",
    "relation-list",
    "relation-get",
    "relation-set",
    "is-leader",
    "status-set",
];

/// A directory of stand-in hook tools and the relation state they serve.
pub struct Juju {
    pub dir: PathBuf,
}

impl Juju {
    /// Stand-ins in a fresh directory, for unit `shop/0`, with `state` as the model.
    pub fn new(state: Value) -> Juju {
        let dir = crate::support::fresh_charm_dir().join("juju-tools");
        std::fs::create_dir_all(&dir).expect("tools dir");
        let script = dir.join("stand-in.py");
        std::fs::write(&script, STAND_IN).expect("write stand-in");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for tool in TOOLS {
            std::os::unix::fs::symlink(&script, dir.join(tool)).expect("symlink");
        }
        let juju = Juju { dir };
        juju.set_state(state);
        juju
    }

    /// A leader (or not) related to Tempo, which published `receivers` (a JSON string).
    pub fn related(leader: bool, receivers: Option<&str>) -> Juju {
        let mut remote = json!({});
        if let Some(receivers) = receivers {
            remote["receivers"] = json!(receivers);
        }
        Juju::new(json!({
            "app": "shop",
            "leader": leader,
            "relations": {
                "tracing:7": {
                    "name": "tracing",
                    "remote_app": "tempo",
                    "remote_units": ["tempo/0"],
                    "local_app_data": {},
                    "remote_app_data": remote,
                }
            }
        }))
    }

    /// Tempo's receivers for one OTLP/HTTP endpoint at `url`.
    pub fn otlp_http(url: &str) -> String {
        json!([
            {"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "localhost:4317"},
            {"protocol": {"name": "otlp_http", "type": "http"}, "url": url},
        ])
        .to_string()
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("state.json")).expect("state"))
            .expect("state JSON")
    }

    pub fn set_state(&self, state: Value) {
        std::fs::write(self.dir.join("state.json"), state.to_string()).expect("write state");
    }

    /// Makes `tool` misbehave: "hang", "garbage", "fail" or "permission-denied".
    pub fn misbehave(&self, tool: &str, how: &str) {
        let mut state = self.state();
        state["behaviour"][tool] = json!(how);
        self.set_state(state);
    }

    /// Every call made, one line each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `PATH` with the stand-ins first.
    pub fn path(&self) -> std::ffi::OsString {
        let mut path = self.dir.clone().into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        path
    }

    pub fn tools_dir(&self) -> &Path {
        &self.dir
    }
}

/// A stand-in `juju-log` (a shell script): each call appends `LEVEL<TAB>MESSAGE` to
/// `debug-log` in its directory, or hangs, or fails, as told.
pub struct JujuLog {
    pub dir: PathBuf,
}

const JUJU_LOG: &str = r#"#!/bin/sh
here=$(dirname "$0")
mode=$(cat "$here/mode" 2>/dev/null)
echo call >> "$here/calls"
if [ "$mode" = hang ]; then exec sleep 3600; fi
if [ "$mode" = fail ]; then echo "ERROR juju-log failed" >&2; exit 1; fi
level=INFO
if [ "$1" = --log-level ]; then level=$2; shift 2; fi
if [ "$1" = -- ]; then shift; fi
printf '%s\t%s\n' "$level" "$*" >> "$here/debug-log"
"#;

impl JujuLog {
    /// A stand-in in a fresh directory, recording ("ok"), hanging ("hang") or failing ("fail").
    pub fn new(mode: &str) -> JujuLog {
        let dir = crate::support::fresh_charm_dir().join("juju-log-tool");
        std::fs::create_dir_all(&dir).expect("tools dir");
        let script = dir.join("juju-log");
        std::fs::write(&script, JUJU_LOG).expect("write juju-log");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.join("mode"), mode).expect("mode");
        JujuLog { dir }
    }

    /// `(level, message)` of every record it received.
    pub fn records(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("debug-log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(level, message)| (level.to_owned(), message.to_owned()))
            .collect()
    }

    /// How many times it was called.
    pub fn calls(&self) -> usize {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `PATH` with the stand-in first, then `rest`.
    pub fn path_before(&self, rest: &std::ffi::OsStr) -> std::ffi::OsString {
        let mut path = self.dir.clone().into_os_string();
        path.push(":");
        path.push(rest);
        path
    }
}
