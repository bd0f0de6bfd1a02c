//! An event-driven partitioner (the seed's integration):
//! `cargo run --example partitioner`.
//!
//! Tasks arrive as `TaskCreated` events with their dependencies. The
//! partitioner folds them into *waves*: every task of a wave depends only
//! on tasks of earlier waves, so the tasks of one wave are independent
//! and can run in parallel. It does not emit: its receiver returns the
//! new partition as an effect (`PartitionChanged`), which the mesh
//! publishes, and which a test can read off the returned value.
//! `cargo test --example partitioner` runs the tests below.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use mesh::effects::Effects;
use mesh::prelude::*;

mesh::namespace! {
    /// Work to be scheduled.
    pub TASKS = "tasks";
}

/// A task and the tasks it needs first.
#[signal(namespace = TASKS, name = "created")]
#[derive(Debug, Clone)]
struct TaskCreated {
    name: String,
    deps: Vec<String>,
}

/// The tasks in waves of independent ones; `blocked` are those waiting
/// for a task not seen yet, or caught in a cycle.
#[signal(namespace = TASKS, name = "partitioned")]
#[derive(Debug, Clone, PartialEq)]
struct PartitionChanged {
    waves: Vec<Vec<String>>,
    blocked: Vec<String>,
}

/// Tasks seen so far.
#[derive(Default)]
struct Partitioner {
    tasks: Mutex<BTreeMap<String, Vec<String>>>,
}

impl Partitioner {
    /// The receiver: records the task, returns the new partition.
    fn add(&self, task: &TaskCreated) -> Effects {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.insert(task.name.clone(), task.deps.clone());
        Effects::new().emit(partition(&tasks))
    }
}

/// Kahn's layering: a task joins the first wave after all its
/// dependencies' waves; what never becomes ready is blocked.
fn partition(tasks: &BTreeMap<String, Vec<String>>) -> PartitionChanged {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut waves = Vec::new();
    loop {
        let wave: Vec<String> = tasks
            .iter()
            .filter(|(name, deps)| {
                !placed.contains(name.as_str()) && deps.iter().all(|d| placed.contains(d.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if wave.is_empty() {
            break;
        }
        placed.extend(tasks.keys().filter(|k| wave.contains(k)).map(String::as_str));
        waves.push(wave);
    }
    let blocked = tasks.keys().filter(|k| !placed.contains(k.as_str())).cloned().collect();
    PartitionChanged { waves, blocked }
}

fn task(name: &str, deps: &[&str]) -> TaskCreated {
    TaskCreated { name: name.into(), deps: deps.iter().map(|d| d.to_string()).collect() }
}

fn main() {
    let partitioner = Arc::new(Partitioner::default());
    let _wired = TaskCreated::signal().connect_weak(&partitioner, Partitioner::add);
    let _show = PartitionChanged::signal().connect(|p: &PartitionChanged| {
        println!("  waves {:?}  blocked {:?}", p.waves, p.blocked);
    });
    for t in [
        task("fetch", &[]),
        task("parse", &["fetch"]),
        task("lint", &[]),
        task("index", &["parse"]),
        task("report", &["index", "lint", "deploy"]),
        task("deploy", &["report"]),
    ] {
        println!("task {} after {:?}", t.name, t.deps);
        t.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(tasks: &[TaskCreated]) -> BTreeMap<String, Vec<String>> {
        tasks.iter().map(|t| (t.name.clone(), t.deps.clone())).collect()
    }

    #[test]
    fn independent_tasks_share_a_wave_and_dependents_follow() {
        let p = partition(&map(&[
            task("a", &[]),
            task("b", &[]),
            task("c", &["a"]),
            task("d", &["c", "b"]),
        ]));
        assert_eq!(p.waves, [vec!["a", "b"], vec!["c"], vec!["d"]]);
        assert!(p.blocked.is_empty());
    }

    #[test]
    fn missing_dependencies_and_cycles_are_blocked() {
        let p = partition(&map(&[
            task("a", &["ghost"]),
            task("x", &["y"]),
            task("y", &["x"]),
            task("z", &[]),
        ]));
        assert_eq!(p.waves, [vec!["z"]]);
        assert_eq!(p.blocked, ["a", "x", "y"]);
    }

    /// The receiver is a plain method: a test reads its effect, and
    /// nothing is emitted.
    #[test]
    fn the_receiver_returns_the_partition_as_an_effect() {
        let _mesh = mesh::testing::scope();
        let seen = mesh::testing::Recorder::<PartitionChanged>::new();
        let partitioner = Partitioner::default();
        let effects = partitioner.add(&task("a", &[]));
        let effects = {
            drop(effects);
            partitioner.add(&task("b", &["a"]))
        };
        assert_eq!(
            effects.events::<PartitionChanged>(),
            [&PartitionChanged {
                waves: vec![vec!["a".into()], vec!["b".into()]],
                blocked: vec![]
            }]
        );
        assert!(seen.payloads().is_empty());
    }

    /// Wired into the mesh, each task yields one published partition.
    #[test]
    fn wired_it_publishes_each_new_partition() {
        let _mesh = mesh::testing::scope();
        let seen = mesh::testing::Recorder::<PartitionChanged>::new();
        let partitioner = Arc::new(Partitioner::default());
        let _wired = TaskCreated::signal().connect_weak(&partitioner, Partitioner::add);
        task("a", &[]).emit();
        task("b", &["a"]).emit();
        task("c", &[]).emit();
        let last = seen.payloads().pop().unwrap();
        assert_eq!(seen.payloads().len(), 3);
        assert_eq!(last.waves, [vec!["a".to_owned(), "c".to_owned()], vec!["b".to_owned()]]);
    }
}
