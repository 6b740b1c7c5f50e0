//! The apps' dependency graph (`depends_on`), computed in one place for `deploy` (waves), `destroy`
//! (the waves reversed), `gc` (deepest first) and `check` (cycles).

use std::collections::HashSet;

use crate::resolve::Project;

/// The apps' `depends_on` form a cycle: nothing among them can deploy first.
#[derive(Debug, thiserror::Error)]
#[error("dependency cycle among {}: fix `depends_on` (`cargo jiti check` names the cycle)", apps.join(", "))]
pub struct CycleError {
    pub apps: Vec<String>,
}

/// For each app (by index), the apps it depends on that are apps of the workspace (unknown names
/// are a `check` finding, not an edge).
fn edges(project: &Project) -> Vec<Vec<usize>> {
    project
        .apps
        .iter()
        .map(|a| {
            a.depends_on
                .iter()
                .filter_map(|d| project.apps.iter().position(|b| &b.name == d))
                .collect()
        })
        .collect()
}

/// The selected apps and their dependencies, in deploy order (the [`waves`] one after another).
pub fn deploy_order(project: &Project) -> Result<Vec<usize>, CycleError> {
    Ok(waves(project, &project.selected)?.into_iter().flatten().collect())
}

/// The selected apps and their dependencies (transitively), in waves: every app after all it
/// depends on; the apps of one wave are independent of each other.
pub fn waves(project: &Project, selected: &[usize]) -> Result<Vec<Vec<usize>>, CycleError> {
    let edges = edges(project);
    let mut wanted: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = selected.to_vec();
    while let Some(i) = stack.pop() {
        if !wanted.contains(&i) {
            wanted.push(i);
            stack.extend(&edges[i]);
        }
    }
    wanted.sort_unstable();
    let mut done: HashSet<usize> = HashSet::new();
    let mut waves = Vec::new();
    while done.len() < wanted.len() {
        let wave: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|i| !done.contains(i))
            .filter(|&i| edges[i].iter().all(|j| done.contains(j)))
            .collect();
        if wave.is_empty() {
            let apps = wanted
                .iter()
                .filter(|i| !done.contains(i))
                .map(|&i| project.apps[i].name.clone())
                .collect();
            return Err(CycleError { apps });
        }
        done.extend(&wave);
        waves.push(wave);
    }
    Ok(waves)
}

/// How many waves app `i`'s deploy spans (1 for an app without dependencies; 0 in a cycle): `gc`
/// deletes deeper apps first.
pub fn depth(project: &Project, i: usize) -> usize {
    waves(project, &[i]).map_or(0, |w| w.len())
}

/// Each dependency cycle once (as app indices), found by depth-first search. An app depending on
/// itself is not listed (`check` says that in its own words).
pub fn cycles(project: &Project) -> Vec<Vec<usize>> {
    let edges: Vec<Vec<usize>> = edges(project)
        .into_iter()
        .enumerate()
        .map(|(n, e)| e.into_iter().filter(|&m| m != n).collect())
        .collect();
    let mut state = vec![0u8; edges.len()]; // 0 new, 1 on the path, 2 done
    let mut path = Vec::new();
    let mut found = Vec::new();
    fn visit(
        n: usize,
        edges: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        state[n] = 1;
        path.push(n);
        for &m in &edges[n] {
            if state[m] == 1 {
                let start = path.iter().position(|&p| p == m).unwrap_or(0);
                found.push(path[start..].to_vec());
            } else if state[m] == 0 {
                visit(m, edges, state, path, found);
            }
        }
        path.pop();
        state[n] = 2;
    }
    for n in 0..edges.len() {
        if state[n] == 0 {
            visit(n, &edges, &mut state, &mut path, &mut found);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apps `a`..: each with its `depends_on`.
    fn project(deps: &[&[&str]]) -> Project {
        let dir = std::env::temp_dir();
        let mut project = crate::testing::project(&dir);
        let template = project.apps[0].clone();
        project.apps = deps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = ((b'a' + i as u8) as char).to_string();
                crate::resolve::ResolvedApp {
                    name,
                    depends_on: d.iter().map(|s| (*s).to_owned()).collect(),
                    ..template.clone()
                }
            })
            .collect();
        project
    }

    #[test]
    fn waves_depth_and_cycles() {
        // c depends on b, b on a; d alone; e on an unknown app.
        let p = project(&[&[], &["a"], &["b"], &[], &["zz"]]);
        assert_eq!(waves(&p, &[2, 3]).unwrap(), vec![vec![0, 3], vec![1], vec![2]]);
        assert_eq!(waves(&p, &[4]).unwrap(), vec![vec![4]]);
        assert_eq!((depth(&p, 0), depth(&p, 2), depth(&p, 4)), (1, 3, 1));
        assert!(cycles(&p).is_empty());
        // a → b → c → a, and d on itself.
        let p = project(&[&["c"], &["a"], &["b"], &["d"]]);
        assert_eq!(waves(&p, &[0]).unwrap_err().apps, ["a", "b", "c"]);
        assert!(waves(&p, &[3]).is_err(), "an app depending on itself never deploys");
        assert_eq!(depth(&p, 1), 0);
        assert_eq!(cycles(&p), vec![vec![0, 2, 1]]);
    }
}
