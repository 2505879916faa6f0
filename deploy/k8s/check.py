#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check deploy/k8s: every file parses as YAML, every object has the
apiVersion its kind needs and the fields the API server requires, and
the objects fit together (selectors match pod labels, mounts name
volumes, volumes name ConfigMaps and Secrets defined here, Services
target named container ports). Then what ramp's layout needs: the
controller a one-replica StatefulSet with a volume claim and Services
for 7480/7400/7401/7402, the agent a DaemonSet with /run/ramp as a
hostPath and 7481 as a hostPort, the configs in ConfigMaps, the signing
key in a Secret. Run by unit.pkg_k8s; exits 1 naming each problem.
"""
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
API = {
    'Namespace': 'v1', 'ConfigMap': 'v1', 'Secret': 'v1', 'Service': 'v1',
    'StatefulSet': 'apps/v1', 'DaemonSet': 'apps/v1',
    'Kustomization': 'kustomize.config.k8s.io/v1beta1',
}
problems = []


def bad(where, msg):
    problems.append(f'{where}: {msg}')


def get(obj, path, where):
    cur = obj
    for part in path.split('.'):
        if not isinstance(cur, dict) or part not in cur:
            bad(where, f'missing {path}')
            return None
        cur = cur[part]
    return cur


def check_pod(spec, where, objs, ns):
    labels = (spec.get('template', {}).get('metadata', {}) or {}).get('labels') or {}
    sel = get(spec, 'selector.matchLabels', where) or {}
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        bad(where, 'selector.matchLabels do not match the pod template labels')
    pod = get(spec, 'template.spec', where) or {}
    vols = {v['name']: v for v in pod.get('volumes', []) or []}
    claims = {c['metadata']['name'] for c in spec.get('volumeClaimTemplates', []) or []}
    for v in vols.values():
        if 'configMap' in v and ('ConfigMap', ns, v['configMap']['name']) not in objs:
            bad(where, f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not defined")
        if 'secret' in v and ('Secret', ns, v['secret']['secretName']) not in objs:
            bad(where, f"volume {v['name']}: Secret {v['secret']['secretName']} is not defined")
    ports = {}
    containers = (pod.get('containers') or []) + (pod.get('initContainers') or [])
    if not pod.get('containers'):
        bad(where, 'no containers')
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        for f in ('name', 'image'):
            if not c.get(f):
                bad(cw, f'missing {f}')
        for m in c.get('volumeMounts', []) or []:
            if m['name'] not in vols and m['name'] not in claims:
                bad(cw, f"mount {m['name']} names no volume or claim")
            if not str(m.get('mountPath', '')).startswith('/'):
                bad(cw, f"mount {m['name']} has no absolute mountPath")
        for p in c.get('ports', []) or []:
            if not isinstance(p.get('containerPort'), int):
                bad(cw, 'a port without an integer containerPort')
            ports[p.get('name')] = p
        for probe in ('readinessProbe', 'livenessProbe'):
            pr = c.get(probe, {}).get('httpGet')
            if pr and pr['port'] not in ports and not isinstance(pr['port'], int):
                bad(cw, f"{probe} names port {pr['port']} the container lacks")
    return labels, vols, ports, pod


def main():
    objs = {}
    docs = []
    files = sorted(f for f in os.listdir(HERE) if f.endswith('.yaml'))
    if not files:
        bad(HERE, 'no YAML files')
    for f in files:
        with open(os.path.join(HERE, f), encoding='utf-8') as fh:
            try:
                loaded = [d for d in yaml.safe_load_all(fh) if d is not None]
            except yaml.YAMLError as e:
                bad(f, f'does not parse: {e}')
                continue
        for i, d in enumerate(loaded):
            where = f'{f}#{i + 1}'
            kind = d.get('kind')
            if kind not in API:
                bad(where, f'unexpected kind {kind!r}')
                continue
            if d.get('apiVersion') != API[kind]:
                bad(where, f"{kind} needs apiVersion {API[kind]}, has {d.get('apiVersion')!r}")
            name = (d.get('metadata') or {}).get('name')
            if kind != 'Kustomization' and not name:
                bad(where, 'missing metadata.name')
            ns = (d.get('metadata') or {}).get('namespace')
            if kind not in ('Namespace', 'Kustomization') and ns != 'ramp':
                bad(where, f'{kind} {name} is not in namespace ramp')
            objs[(kind, ns, name)] = d
            docs.append((f'{where} {kind}/{name}', d))

    pods = {}
    for where, d in docs:
        kind, spec, ns = d['kind'], d.get('spec') or {}, d['metadata'].get('namespace') if 'metadata' in d else None
        if kind in ('StatefulSet', 'DaemonSet'):
            pods[d['metadata']['name']] = (where, d) + check_pod(spec, where, objs, ns)
        elif kind == 'Service':
            if not spec.get('selector'):
                bad(where, 'no selector')
            for p in spec.get('ports') or []:
                if not isinstance(p.get('port'), int):
                    bad(where, 'a port without an integer port')
        elif kind in ('ConfigMap', 'Secret'):
            if not (d.get('data') or d.get('stringData')):
                bad(where, 'no data')
        elif kind == 'Kustomization':
            for r in d.get('resources') or []:
                if not os.path.exists(os.path.join(HERE, r)):
                    bad(where, f'resource {r} does not exist')
            listed = set(d.get('resources') or [])
            for f in files:
                if f != 'kustomization.yaml' and f not in listed:
                    bad(where, f'{f} is not in resources')

    # Services select pods that exist and target ports they name.
    for where, d in docs:
        if d['kind'] != 'Service':
            continue
        sel = d['spec'].get('selector') or {}
        match = [p for p in pods.values() if all(p[2].get(k) == v for k, v in sel.items())]
        if not match:
            bad(where, f'selector {sel} matches no pod template')
        for p in d['spec'].get('ports') or []:
            tp = p.get('targetPort', p.get('port'))
            if isinstance(tp, str) and not any(tp in m[4] for m in match):
                bad(where, f'targetPort {tp} is no container port of the selected pods')

    # ramp's layout.
    ctl = pods.get('ramp-controller')
    if not ctl or ctl[1]['kind'] != 'StatefulSet':
        bad('controller', 'no StatefulSet ramp-controller')
    else:
        where, d = ctl[0], ctl[1]
        if d['spec'].get('replicas') != 1:
            bad(where, 'replicas must be 1 (one LMDB writer)')
        claims = d['spec'].get('volumeClaimTemplates') or []
        if not claims or not get(claims[0], 'spec.resources.requests.storage', where):
            bad(where, 'no volumeClaimTemplates with a storage request')
        svc_for = d['spec'].get('serviceName')
        if ('Service', 'ramp', svc_for) not in objs:
            bad(where, f'serviceName {svc_for} is not a Service here')
        ports = set()
        for (k, _, _), o in objs.items():
            if k == 'Service' and o['spec'].get('selector', {}).get('app.kubernetes.io/name') == 'ramp-controller':
                ports |= {p['port'] for p in o['spec'].get('ports') or []}
        for want in (7480, 7400, 7401, 7402):
            if want not in ports:
                bad('controller', f'no Service port {want}')
        secrets = [v for v in ctl[3].values() if 'secret' in v]
        if not secrets:
            bad(where, 'the signing key is not mounted from a Secret')
        if not any('controller.conf' in (o.get('data') or {}) for (k, _, _), o in objs.items() if k == 'ConfigMap'):
            bad('controller', 'no ConfigMap with controller.conf')
    agt = pods.get('ramp-agent')
    if not agt or agt[1]['kind'] != 'DaemonSet':
        bad('agent', 'no DaemonSet ramp-agent')
    else:
        where, vols, ports = agt[0], agt[3], agt[4]
        if not any((v.get('hostPath') or {}).get('path') == '/run/ramp' for v in vols.values()):
            bad(where, 'no hostPath volume /run/ramp (the socket directory)')
        if not any(p.get('hostPort') == 7481 and p.get('containerPort') == 7481 for p in ports.values()):
            bad(where, 'no hostPort 7481 (OFREP on the node)')
        confs = [o for (k, _, _), o in objs.items() if k == 'ConfigMap' and 'agent.conf' in (o.get('data') or {})]
        if not confs:
            bad('agent', 'no ConfigMap with agent.conf')
        elif 'http-addr = 0.0.0.0:7481' not in confs[0]['data']['agent.conf']:
            bad('agent', 'agent.conf must listen on 0.0.0.0:7481 for the hostPort to reach it')
    if not any(k == 'Secret' and 'controller.key' in (o.get('stringData') or o.get('data') or {})
               for (k, _, _), o in objs.items()):
        bad('secret', 'no Secret holding controller.key')

    for p in problems:
        print('FAIL:', p, file=sys.stderr)
    print(f'k8s: {len(docs)} objects in {len(files)} files checked')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
