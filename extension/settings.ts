/**
 * The extension's settings and the places derived from them (runs folder, the runtime's
 * CLI), read in one place.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { ensureRunsFolder } from './runsStore';
import type { SchemaNode } from './configCheck';
import { parseByteSize, setDefaultMaxTraceBytes } from '../trace/budget';

export interface PresetChoice {
  name: string;
  description: string;
}

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('commlens');
}

/** The folder runs go to, resolved and created when missing. */
export function runsFolder(context: vscode.ExtensionContext): string {
  const configured = config().get<string>('runsFolder', '.commlens/runs').trim() || '.commlens/runs';
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const base = ws ?? context.globalStorageUri.fsPath;
  const expanded = configured.replace(/^~(?=$|\/)/, process.env.HOME ?? '~').replace(/\$\{workspaceFolder\}/g, base);
  return ensureRunsFolder(path.isAbsolute(expanded) ? expanded : path.join(base, expanded));
}

/** Applies commlens.maxTraceBytes to every trace loader of the extension host (trace/budget.ts). */
export function applyMaxTraceBytes(): void {
  const n = parseByteSize(config().get<string>('maxTraceBytes', '2G'));
  setDefaultMaxTraceBytes(n);
}

export function keepRuns(): number {
  const n = config().get<number>('keepRuns', 20);
  return Number.isInteger(n) && n >= 1 ? n : 20;
}

export function linkProfile(): string | undefined {
  const l = config().get<string>('linkProfile', '').trim();
  return l.length > 0 ? l : undefined;
}

export function defaultPreset(): string {
  return config().get<string>('defaultPreset', 'mlp-small');
}

export function cliPath(context: vscode.ExtensionContext): string {
  return path.join(context.extensionPath, 'dist', 'cli', 'commlens.js');
}

export function schemaPath(context: vscode.ExtensionContext): string {
  return path.join(context.extensionPath, 'schemas', 'commlens.schema.json');
}

export function readSchema(context: vscode.ExtensionContext): SchemaNode & {
  properties: Record<string, SchemaNode & { markdownEnumDescriptions?: string[]; default?: unknown }>;
} {
  return JSON.parse(fs.readFileSync(schemaPath(context), 'utf8'));
}

/** The presets with their one-line descriptions, as the schema documents them. */
export function presets(context: vscode.ExtensionContext): PresetChoice[] {
  const p = readSchema(context).properties.preset;
  const names = (p.enum ?? []) as string[];
  return names.map((name, i) => ({ name, description: p.markdownEnumDescriptions?.[i] ?? '' }));
}

/**
 * Environment for a runtime child process. In desktop VS Code `process.execPath` is
 * Electron, which behaves as Node only with ELECTRON_RUN_AS_NODE; under code-server it
 * is Node and the variable is ignored.
 */
export function runtimeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ELECTRON_RUN_AS_NODE: '1',
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    ...extra,
  };
}
