// The 3D motion viewer: a skeleton (joint spheres + bone cylinders) animated over a floor grid, orbit camera.
// State for people and tests: container.dataset.frame / .frames / .playing, and the "frame" event.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

const Y_AXIS = new THREE.Vector3(0, 1, 0);
const COLORS = { left: 0x2f6fdf, right: 0xd9453b, centre: 0x555b66, predicted: 0x1f9d55 };

function side(name) {
  if (name.startsWith('left')) return 'left';
  if (name.startsWith('right')) return 'right';
  return 'centre';
}

export class MotionViewer extends EventTarget {
  constructor(container) {
    super();
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    container.replaceChildren(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xf3f4f6);
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 2.2));
    const sun = new THREE.DirectionalLight(0xffffff, 1.6);
    sun.position.set(3, 6, 4);
    this.scene.add(sun);
    this.grid = new THREE.GridHelper(20, 40, 0x9aa1ad, 0xd3d7de);
    this.scene.add(this.grid);
    this.camera = new THREE.PerspectiveCamera(40, 1, 0.05, 200);
    this.camera.position.set(2.6, 1.7, 3.6);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(0, 0.9, 0);
    this.controls.enableDamping = true;
    this.figure = new THREE.Group();
    this.scene.add(this.figure);
    this.trail = null;
    this.motion = null;
    this.frame = 0;
    this.position = 0;  // fractional frame while playing
    this.playing = false;
    this.speed = 1;
    this.follow = true;
    this.lastTime = null;
    this._resize();
    new ResizeObserver(() => this._resize()).observe(container);
    this.renderer.setAnimationLoop((t) => this._tick(t));
  }

  _resize() {
    const w = Math.max(1, this.container.clientWidth), h = Math.max(1, this.container.clientHeight);
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  // motion: {joints: [T][J][3] metres Y-up, fps, skeleton: {joint_names, parents}, observed_frames}
  setMotion(motion) {
    this.figure.clear();
    if (this.trail) { this.scene.remove(this.trail); this.trail.geometry.dispose(); }
    const T = motion.joints.length, J = motion.joints[0].length;
    this.motion = motion;
    this.numFrames = T;
    this.fps = motion.fps || 20;
    this.observed = motion.observed_frames || 0;
    this.pos = new Float32Array(T * J * 3);
    motion.joints.forEach((f, t) => f.forEach((p, j) => this.pos.set(p, (t * J + j) * 3)));
    this.J = J;
    this.parents = motion.skeleton.parents;
    const names = motion.skeleton.joint_names;
    this.materials = {};
    for (const k of Object.keys(COLORS)) {
      this.materials[k] = new THREE.MeshStandardMaterial({ color: COLORS[k], roughness: 0.55, metalness: 0.05 });
    }
    const sphere = new THREE.SphereGeometry(0.032, 16, 12);
    const cylinder = new THREE.CylinderGeometry(0.022, 0.022, 1, 12);
    this.joints = names.map((n) => {
      const m = new THREE.Mesh(sphere, this.materials[side(n)]);
      this.figure.add(m);
      return m;
    });
    this.bones = [];
    this.parents.forEach((p, j) => {
      if (p < 0) return;
      const m = new THREE.Mesh(cylinder, this.materials[side(names[j])]);
      this.figure.add(m);
      this.bones.push({ mesh: m, parent: p, child: j, side: side(names[j]) });
    });
    // head: a larger sphere on the last joint of the spine chain named "head"
    const head = names.indexOf('head');
    if (head >= 0) this.joints[head].scale.setScalar(2.6);
    // root trajectory on the floor
    const pts = [];
    for (let t = 0; t < T; t++) pts.push(new THREE.Vector3(this.pos[t * J * 3], 0.002, this.pos[t * J * 3 + 2]));
    this.trail = new THREE.Line(new THREE.BufferGeometry().setFromPoints(pts),
                                new THREE.LineBasicMaterial({ color: 0x7c8594 }));
    this.scene.add(this.trail);
    this.floor = Infinity;
    for (let i = 1; i < this.pos.length; i += 3) this.floor = Math.min(this.floor, this.pos[i]);
    this.grid.position.y = Number.isFinite(this.floor) ? this.floor : 0;
    this.trail.position.y = this.grid.position.y;
    const root = this._root(0);
    this.controls.target.set(root.x, root.y, root.z);
    this.camera.position.set(root.x + 2.0, root.y + 0.7, root.z + 2.9);
    this.container.dataset.frames = String(T);
    this.setFrame(0);
    this.play();
  }

  _root(t) {
    const i = t * this.J * 3;
    return new THREE.Vector3(this.pos[i], this.pos[i + 1], this.pos[i + 2]);
  }

  _apply(t) {
    const J = this.J, base = t * J * 3, P = this.pos;
    const predicted = this.observed > 0 && t >= this.observed;
    for (let j = 0; j < J; j++) this.joints[j].position.set(P[base + 3 * j], P[base + 3 * j + 1], P[base + 3 * j + 2]);
    const a = new THREE.Vector3(), b = new THREE.Vector3(), d = new THREE.Vector3();
    for (const bone of this.bones) {
      a.copy(this.joints[bone.parent].position);
      b.copy(this.joints[bone.child].position);
      d.subVectors(b, a);
      const len = d.length();
      bone.mesh.position.addVectors(a, b).multiplyScalar(0.5);
      if (len > 1e-6) bone.mesh.quaternion.setFromUnitVectors(Y_AXIS, d.divideScalar(len));
      bone.mesh.scale.set(1, Math.max(len, 1e-4), 1);
      bone.mesh.material = predicted && bone.side === 'centre' ? this.materials.predicted : this.materials[bone.side];
    }
  }

  setFrame(t) {
    if (!this.motion) return;
    t = Math.max(0, Math.min(this.numFrames - 1, Math.round(t)));
    const moved = this._root(t).sub(this._root(this.frame));
    this.frame = t;
    this.position = t;
    this._apply(t);
    if (this.follow) {  // keep the figure centred: move target and camera with the root (ground plane only)
      moved.y = 0;
      this.controls.target.add(moved);
      this.camera.position.add(moved);
    }
    this.container.dataset.frame = String(t);
    this.dispatchEvent(new CustomEvent('frame', { detail: { frame: t, frames: this.numFrames } }));
  }

  play() { if (this.motion) { this.playing = true; this.lastTime = null; this._state(); } }
  pause() { this.playing = false; this._state(); }
  toggle() { this.playing ? this.pause() : this.play(); }
  _state() {
    this.container.dataset.playing = String(this.playing);
    this.dispatchEvent(new CustomEvent('state', { detail: { playing: this.playing } }));
  }

  _tick(time) {
    if (this.playing && this.motion) {
      if (this.lastTime !== null) {
        const dt = Math.min(0.25, (time - this.lastTime) / 1000);
        this.position = (this.position + dt * this.fps * this.speed) % this.numFrames;
        const t = Math.floor(this.position);
        if (t !== this.frame) {
          const keep = this.position;
          this.setFrame(t);
          this.position = keep;
        }
      }
      this.lastTime = time;
    }
    this.controls.update();
    this.renderer.render(this.scene, this.camera);
  }
}

export function webglAvailable() {
  try {
    const c = document.createElement('canvas');
    return !!(c.getContext('webgl2') || c.getContext('webgl'));
  } catch (e) {
    return false;
  }
}
