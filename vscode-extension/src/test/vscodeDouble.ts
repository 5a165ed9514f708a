/**
 * A thin double of the `vscode` module: just the API surface this extension and vscode-languageclient
 * touch, so the extension's real code (and the real language client) runs in plain Node against the
 * real ao-server. The test bundles alias `vscode` to this file (esbuild.mjs --tests).
 *
 * UI calls are answered by the test through {@link double}: queued answers for quick picks, input
 * boxes and modal questions, a responder for notifications; everything shown is recorded.
 */
import * as path from 'path';

export const version = '1.100.3';

// --- basics ---------------------------------------------------------------------------------------------

export class Disposable {
    static from(...items: { dispose(): unknown }[]): Disposable {
        return new Disposable(() => items.forEach((d) => d.dispose()));
    }

    constructor(private readonly fn: () => unknown) {}

    dispose(): void {
        this.fn();
    }
}

export type Event<T> = (listener: (e: T) => unknown, thisArgs?: unknown, disposables?: Disposable[]) => Disposable;

export class EventEmitter<T> {
    private listeners: ((e: T) => unknown)[] = [];

    readonly event: Event<T> = (listener, thisArgs, disposables) => {
        const bound = thisArgs ? listener.bind(thisArgs) : listener;
        this.listeners.push(bound);
        const d = new Disposable(() => {
            this.listeners = this.listeners.filter((l) => l !== bound);
        });
        disposables?.push(d);
        return d;
    };

    fire(e: T): void {
        for (const l of [...this.listeners]) {
            l(e);
        }
    }

    dispose(): void {
        this.listeners = [];
    }
}

export class CancellationError extends Error {
    constructor() {
        super('Canceled');
        this.name = 'Canceled';
    }
}

export class CancellationTokenSource {
    private readonly emitter = new EventEmitter<void>();
    private cancelled = false;
    readonly token = {
        isCancellationRequested: false,
        onCancellationRequested: this.emitter.event,
    };

    cancel(): void {
        if (!this.cancelled) {
            this.cancelled = true;
            this.token.isCancellationRequested = true;
            this.emitter.fire();
        }
    }

    dispose(): void {
        this.emitter.dispose();
    }
}

export class Uri {
    private constructor(
        readonly scheme: string,
        readonly authority: string,
        readonly path: string,
        readonly query: string,
        readonly fragment: string,
    ) {}

    static file(fsPath: string): Uri {
        return new Uri('file', '', path.resolve(fsPath), '', '');
    }

    static parse(value: string): Uri {
        const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
        if (!m) {
            throw new Error(`not a URI: ${value}`);
        }
        return new Uri(m[1] ?? '', m[2] ?? '', decodeURIComponent(m[3] ?? ''), m[4] ?? '', m[5] ?? '');
    }

    static from(c: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
        return new Uri(c.scheme, c.authority ?? '', c.path ?? '', c.query ?? '', c.fragment ?? '');
    }

    static joinPath(base: Uri, ...segments: string[]): Uri {
        return base.with({ path: path.posix.join(base.path, ...segments) });
    }

    get fsPath(): string {
        return this.path;
    }

    with(change: { scheme?: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
        return new Uri(change.scheme ?? this.scheme, change.authority ?? this.authority, change.path ?? this.path,
            change.query ?? this.query, change.fragment ?? this.fragment);
    }

    toString(): string {
        const p = this.path.split('/').map((s) => encodeURIComponent(s)).join('/');
        const auth = this.scheme === 'file' || this.authority ? `//${this.authority}` : '';
        return `${this.scheme}:${auth}${p}${this.query ? `?${this.query}` : ''}${this.fragment ? `#${this.fragment}` : ''}`;
    }

    toJSON(): unknown {
        return { scheme: this.scheme, authority: this.authority, path: this.path, query: this.query, fragment: this.fragment };
    }
}

export class ThemeColor {
    constructor(readonly id: string) {}
}

export class ThemeIcon {
    static readonly File = new ThemeIcon('file');
    static readonly Folder = new ThemeIcon('folder');

    constructor(readonly id: string, readonly color?: ThemeColor) {}
}

export class MarkdownString {
    value: string;
    isTrusted?: boolean;
    supportThemeIcons?: boolean;
    supportHtml?: boolean;

    constructor(value = '', supportThemeIcons = false) {
        this.value = value;
        this.supportThemeIcons = supportThemeIcons;
    }

    appendMarkdown(value: string): MarkdownString {
        this.value += value;
        return this;
    }

    appendText(value: string): MarkdownString {
        this.value += value;
        return this;
    }

    appendCodeblock(value: string, language = ''): MarkdownString {
        this.value += `\n\`\`\`${language}\n${value}\n\`\`\`\n`;
        return this;
    }
}

export enum TreeItemCollapsibleState { None = 0, Collapsed = 1, Expanded = 2 }
export enum StatusBarAlignment { Left = 1, Right = 2 }
export enum ViewColumn { Active = -1, Beside = -2, One = 1 }
export enum ProgressLocation { SourceControl = 1, Window = 10, Notification = 15 }
export enum ConfigurationTarget { Global = 1, Workspace = 2, WorkspaceFolder = 3 }
export enum DiagnosticSeverity { Error = 0, Warning = 1, Information = 2, Hint = 3 }

export class TreeItem {
    id?: string;
    description?: string | boolean;
    tooltip?: string | MarkdownString;
    iconPath?: ThemeIcon;
    contextValue?: string;
    command?: { command: string; title: string; arguments?: unknown[] };
    accessibilityInformation?: { label: string; role?: string };
    label: string;
    collapsibleState: TreeItemCollapsibleState;

    constructor(label: string, collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None) {
        this.label = label;
        this.collapsibleState = collapsibleState;
    }
}

// vscode-languageclient subclasses these when its modules load; the extension never creates them.
export class Position {
    constructor(readonly line: number, readonly character: number) {}
}
export class Range {
    constructor(readonly start: Position, readonly end: Position) {}
}
export class Diagnostic {}
export class CodeAction {}
export class CodeLens {}
export class CompletionItem {}
export class DocumentLink {}
export class InlayHint {}
export class SymbolInformation {}
export class CallHierarchyItem {}
export class TypeHierarchyItem {}
export class CodeActionKind {
    static readonly Empty = new CodeActionKind('');
    static readonly QuickFix = new CodeActionKind('quickfix');
    static readonly Refactor = new CodeActionKind('refactor');
    static readonly RefactorExtract = new CodeActionKind('refactor.extract');
    static readonly RefactorInline = new CodeActionKind('refactor.inline');
    static readonly RefactorMove = new CodeActionKind('refactor.move');
    static readonly RefactorRewrite = new CodeActionKind('refactor.rewrite');
    static readonly Source = new CodeActionKind('source');
    static readonly SourceOrganizeImports = new CodeActionKind('source.organizeImports');
    static readonly SourceFixAll = new CodeActionKind('source.fixAll');
    static readonly Notebook = new CodeActionKind('notebook');

    constructor(readonly value: string) {}
}
export class TabInputText {}
export class TabInputTextDiff {}
export class TabInputCustom {}
export class TabInputNotebook {}
export class NotebookCellKind {}

// --- what the test controls and sees ---------------------------------------------------------------------

export interface ShownMessage {
    level: 'info' | 'warning' | 'error';
    message: string;
    items: string[];
    modal: boolean;
    /** The button the responder picked. */
    picked?: string;
}

export interface QuickPickCall {
    items: any[];
    options: any;
    picked?: any;
}

export interface InputBoxCall {
    options: any;
    answer?: string;
}

export interface TerminalRecord {
    options: any;
    shown: boolean;
    disposed: boolean;
}

/** A quick pick answer: a label (exact, or its text after an icon), a predicate, or undefined (Escape). */
export type PickAnswer = string | ((item: any) => boolean) | undefined;

/** A quick pick answer as queued: with `canPickMany`, an array picks several items. */
export type QueuedPickAnswer = PickAnswer | PickAnswer[];

class OutputChannelDouble {
    text = '';
    visible = false;

    constructor(readonly name: string) {}

    append(value: string): void {
        this.text += value;
    }

    appendLine(value: string): void {
        this.text += value + '\n';
    }

    replace(value: string): void {
        this.text = value;
    }

    clear(): void {
        this.text = '';
    }

    show(): void {
        this.visible = true;
    }

    hide(): void {
        this.visible = false;
    }

    dispose(): void {
        // nothing to release
    }
}

export enum LogLevel { Off = 0, Trace = 1, Debug = 2, Info = 3, Warning = 4, Error = 5 }

/** `createOutputChannel(name, { log: true })`: every line is recorded with its level, `[warning] ...`. */
class LogOutputChannelDouble extends OutputChannelDouble {
    readonly logLevel = LogLevel.Info;
    readonly onDidChangeLogLevel = new EventEmitter<LogLevel>().event;

    private log(level: string, message: string, args: unknown[]): void {
        const extra = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)));
        this.appendLine(`[${level}] ${[message, ...extra].join(' ')}`);
        double.poke();
    }

    trace(message: string, ...args: unknown[]): void {
        this.log('trace', message, args);
    }

    debug(message: string, ...args: unknown[]): void {
        this.log('debug', message, args);
    }

    info(message: string, ...args: unknown[]): void {
        this.log('info', message, args);
    }

    warn(message: string, ...args: unknown[]): void {
        this.log('warning', message, args);
    }

    error(error: string | Error, ...args: unknown[]): void {
        this.log('error', error instanceof Error ? error.message : error, args);
    }
}

class StatusBarItemDouble {
    text = '';
    tooltip: unknown;
    command: unknown;
    name?: string;
    backgroundColor?: ThemeColor;
    visible = false;

    constructor(readonly id: string, readonly alignment: StatusBarAlignment, readonly priority: number) {}

    show(): void {
        this.visible = true;
    }

    hide(): void {
        this.visible = false;
    }

    dispose(): void {
        this.visible = false;
    }
}

class TextDocumentDouble {
    constructor(readonly uri: Uri, private text: string, readonly languageId = 'plaintext') {}

    getText(): string {
        return this.text;
    }

    setText(text: string): void {
        this.text = text;
    }

    get lineCount(): number {
        return this.text.split('\n').length;
    }
}

function clone<T>(value: T): T {
    return value === undefined ? value : JSON.parse(JSON.stringify(value)) as T;
}

export class VscodeDouble {
    readonly messages: ShownMessage[] = [];
    readonly quickPicks: QuickPickCall[] = [];
    readonly inputBoxes: InputBoxCall[] = [];
    readonly terminals: TerminalRecord[] = [];
    readonly shownDocuments: TextDocumentDouble[] = [];
    readonly outputChannels = new Map<string, OutputChannelDouble>();
    readonly statusBarItems: StatusBarItemDouble[] = [];
    readonly treeProviders = new Map<string, any>();
    readonly commands = new Map<string, (...args: any[]) => any>();
    /** Built-in commands the extension ran (id and arguments). */
    readonly builtinCommands: { id: string; args: unknown[] }[] = [];
    readonly documents: TextDocumentDouble[] = [];
    readonly contentProviders = new Map<string, any>();
    readonly progress: { title?: string; messages: string[]; done: boolean }[] = [];
    /** The user's settings. */
    configuration: Record<string, unknown> = {};
    /** The workspace's (its `.vscode/settings.json`): `get` prefers them, as VS Code does for a setting whose scope
     * lets a workspace override it; `inspect` tells them apart. */
    workspaceConfiguration: Record<string, unknown> = {};
    workspaceFolders: { uri: Uri; name: string; index: number }[] | undefined;
    /** What `window.activeTextEditor` returns (a test sets an editor with a selection). */
    activeTextEditor: unknown;
    readonly extensions = new Map<string, unknown>();

    /** Answers for the next quick picks, in order; with none left a quick pick is dismissed. */
    readonly pickAnswers: QueuedPickAnswer[] = [];
    /** Answers for the next input boxes, in order; with none left an input box is dismissed. */
    readonly inputAnswers: (string | undefined)[] = [];
    /** Picks a button of a (non-modal or modal) message; default: none (the notification is dismissed). A promise
     * keeps the notification open until it resolves. */
    messageResponder: (m: ShownMessage) => string | undefined | Promise<string | undefined> = () => undefined;

    readonly configChanged = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
    readonly terminalClosed = new EventEmitter<unknown>();

    private waiters: (() => void)[] = [];

    /** Something UI-visible happened: wake whoever waits. */
    poke(): void {
        const w = this.waiters;
        this.waiters = [];
        w.forEach((f) => f());
    }

    /** Resolves with pred()'s first truthy value; checked on every UI event and every 100 ms. */
    async waitFor<T>(pred: () => T | undefined | false | null, timeoutMs: number, what: string): Promise<T> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const v = pred();
            if (v) {
                return v;
            }
            if (Date.now() > deadline) {
                throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
            }
            await new Promise<void>((resolve) => {
                const t = setTimeout(resolve, 100);
                this.waiters.push(() => {
                    clearTimeout(t);
                    resolve();
                });
            });
        }
    }

    output(name: string): string {
        return this.outputChannels.get(name)?.text ?? '';
    }

    setConfiguration(values: Record<string, unknown>): void {
        this.configuration = { ...this.configuration, ...values };
        const keys = Object.keys(values);
        this.configChanged.fire({
            affectsConfiguration: (section: string) => keys.some((k) => k === section || k.startsWith(section + '.')),
        });
    }

    /** Forget what was shown and answered (keeps commands, providers and configuration). */
    resetUi(): void {
        this.messages.length = 0;
        this.quickPicks.length = 0;
        this.inputBoxes.length = 0;
        this.terminals.length = 0;
        this.shownDocuments.length = 0;
        this.pickAnswers.length = 0;
        this.inputAnswers.length = 0;
        this.messageResponder = () => undefined;
    }

    showMessage(level: ShownMessage['level'], message: string, rest: any[]): Promise<any> {
        let modal = false;
        let items = rest;
        if (items.length > 0 && typeof items[0] === 'object' && items[0] !== null && !('title' in items[0])) {
            modal = Boolean(items[0].modal);
            items = items.slice(1);
        }
        const labels = items.map((i) => (typeof i === 'string' ? i : String(i?.title)));
        const shown: ShownMessage = { level, message, items: labels, modal };
        this.messages.push(shown);
        const answer = this.messageResponder(shown);
        const button = (pick: string | undefined): any => {
            shown.picked = pick;
            const index = pick === undefined ? -1 : labels.indexOf(pick);
            return index >= 0 ? items[index] : undefined;
        };
        this.poke();
        // A promise holds the notification open until the test answers it.
        return typeof answer === 'object' ? answer.then(button) : Promise.resolve(button(answer));
    }

    async showQuickPick(items: any, options: any): Promise<any> {
        const resolved: any[] = await Promise.resolve(items);
        const call: QuickPickCall = { items: resolved, options };
        this.quickPicks.push(call);
        const answer = this.pickAnswers.shift();
        if (options?.canPickMany) {
            // Answered with one label or predicate per item to pick (an array), or one of them.
            const answers: PickAnswer[] = Array.isArray(answer) ? answer : answer === undefined ? [] : [answer];
            if (answer !== undefined) {
                call.picked = answers.map((a) => this.matchPick(resolved, a, options));
            }
            this.poke();
            return call.picked;
        }
        if (Array.isArray(answer)) {
            throw new Error(`quick pick "${options?.title ?? ''}" picks one item; it was answered with ${answer.length}`);
        }
        if (answer !== undefined) {
            call.picked = this.matchPick(resolved, answer, options);
        }
        this.poke();
        return call.picked;
    }

    private matchPick(resolved: any[], answer: PickAnswer, options: any): any {
        const label = (i: any) => (typeof i === 'string' ? i : String(i.label));
        const match = typeof answer === 'function'
            ? resolved.find(answer)
            : resolved.find((i) => label(i) === answer || label(i).replace(/^\$\([^)]*\)\s*/, '') === answer);
        if (match === undefined) {
            throw new Error(`quick pick "${options?.title ?? ''}" has no item ${String(answer)}: ${resolved.map(label).join(', ')}`);
        }
        return match;
    }

    async showInputBox(options: any): Promise<string | undefined> {
        const call: InputBoxCall = { options, answer: this.inputAnswers.shift() };
        if (call.answer !== undefined && options?.validateInput) {
            const problem = await Promise.resolve(options.validateInput(call.answer));
            if (problem) {
                throw new Error(`input box "${options?.title ?? ''}" refused ${JSON.stringify(call.answer)}: ${String(problem)}`);
            }
        }
        this.inputBoxes.push(call);
        this.poke();
        return call.answer;
    }
}

export const double = new VscodeDouble();

// --- the namespaces --------------------------------------------------------------------------------------

export const window = {
    createOutputChannel(name: string, options?: string | { log: boolean }): OutputChannelDouble {
        const ch = typeof options === 'object' && options.log ? new LogOutputChannelDouble(name) : new OutputChannelDouble(name);
        double.outputChannels.set(name, ch);
        return ch;
    },
    createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): StatusBarItemDouble {
        const item = new StatusBarItemDouble(id, alignment, priority);
        double.statusBarItems.push(item);
        return item;
    },
    createTreeView(viewId: string, options: { treeDataProvider: any }): any {
        double.treeProviders.set(viewId, options.treeDataProvider);
        return { visible: true, reveal: () => Promise.resolve(), dispose: () => double.treeProviders.delete(viewId) };
    },
    registerTreeDataProvider(viewId: string, provider: any): Disposable {
        double.treeProviders.set(viewId, provider);
        return new Disposable(() => double.treeProviders.delete(viewId));
    },
    showInformationMessage: (message: string, ...rest: any[]) => double.showMessage('info', message, rest),
    showWarningMessage: (message: string, ...rest: any[]) => double.showMessage('warning', message, rest),
    showErrorMessage: (message: string, ...rest: any[]) => double.showMessage('error', message, rest),
    showQuickPick: (items: any, options?: any) => double.showQuickPick(items, options),
    showInputBox: (options?: any) => double.showInputBox(options),
    createTerminal(options: any): any {
        const record: TerminalRecord = { options: { ...options, env: clone(options?.env) }, shown: false, disposed: false };
        double.terminals.push(record);
        double.poke();
        return {
            name: options?.name,
            exitStatus: undefined,
            show: () => {
                record.shown = true;
                double.poke();
            },
            hide: () => undefined,
            sendText: () => undefined,
            dispose: () => {
                record.disposed = true;
            },
        };
    },
    onDidCloseTerminal: double.terminalClosed.event,
    async showTextDocument(doc: TextDocumentDouble): Promise<unknown> {
        double.shownDocuments.push(doc);
        double.poke();
        return { document: doc };
    },
    async withProgress<R>(options: { title?: string }, task: (progress: any, token: any) => Thenable<R>): Promise<R> {
        const record = { title: options.title, messages: [] as string[], done: false };
        double.progress.push(record);
        const source = new CancellationTokenSource();
        try {
            return await task({ report: (v: { message?: string }) => v.message && record.messages.push(v.message) }, source.token);
        } finally {
            record.done = true;
            double.poke();
        }
    },
    get activeTextEditor(): any {
        return double.activeTextEditor;
    },
    visibleTextEditors: [] as unknown[],
    onDidChangeActiveTextEditor: new EventEmitter<unknown>().event,
    onDidChangeVisibleTextEditors: new EventEmitter<unknown>().event,
    tabGroups: { all: [] as unknown[], onDidChangeTabs: new EventEmitter<unknown>().event },
};

export const workspace = {
    get workspaceFolders() {
        return double.workspaceFolders;
    },
    getWorkspaceFolder(uri: Uri) {
        return double.workspaceFolders?.find((f) => uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(f.uri.fsPath + '/'));
    },
    getConfiguration(section?: string) {
        const full = (key: string) => (section ? `${section}.${key}` : key);
        return {
            get<T>(key: string, defaultValue?: T): T | undefined {
                const k = full(key);
                return k in double.workspaceConfiguration ? (double.workspaceConfiguration[k] as T)
                    : k in double.configuration ? (double.configuration[k] as T) : defaultValue;
            },
            has: (key: string) => full(key) in double.configuration || full(key) in double.workspaceConfiguration,
            inspect: (key: string) => ({
                key: full(key),
                globalValue: double.configuration[full(key)],
                workspaceValue: double.workspaceConfiguration[full(key)],
            }),
            update: async (key: string, value: unknown) => double.setConfiguration({ [full(key)]: value }),
        };
    },
    onDidChangeConfiguration: double.configChanged.event,
    onDidChangeWorkspaceFolders: new EventEmitter<unknown>().event,
    onDidOpenTextDocument: new EventEmitter<unknown>().event,
    onDidCloseTextDocument: new EventEmitter<unknown>().event,
    onDidChangeTextDocument: new EventEmitter<unknown>().event,
    onDidSaveTextDocument: new EventEmitter<unknown>().event,
    onWillSaveTextDocument: new EventEmitter<unknown>().event,
    onDidCreateFiles: new EventEmitter<unknown>().event,
    onDidRenameFiles: new EventEmitter<unknown>().event,
    onDidDeleteFiles: new EventEmitter<unknown>().event,
    onWillCreateFiles: new EventEmitter<unknown>().event,
    onWillRenameFiles: new EventEmitter<unknown>().event,
    onWillDeleteFiles: new EventEmitter<unknown>().event,
    notebookDocuments: [] as unknown[],
    onDidOpenNotebookDocument: new EventEmitter<unknown>().event,
    onDidCloseNotebookDocument: new EventEmitter<unknown>().event,
    onDidChangeNotebookDocument: new EventEmitter<unknown>().event,
    onDidSaveNotebookDocument: new EventEmitter<unknown>().event,
    get textDocuments() {
        return double.documents;
    },
    registerTextDocumentContentProvider(scheme: string, provider: any): Disposable {
        double.contentProviders.set(scheme, provider);
        if (provider.onDidChange) {
            provider.onDidChange(async (uri: Uri) => {
                const doc = double.documents.find((d) => d.uri.toString() === uri.toString());
                if (doc) {
                    doc.setText(await provider.provideTextDocumentContent(uri, new CancellationTokenSource().token));
                    double.poke();
                }
            });
        }
        return new Disposable(() => double.contentProviders.delete(scheme));
    },
    async openTextDocument(uri: Uri): Promise<TextDocumentDouble> {
        const open = double.documents.find((d) => d.uri.toString() === uri.toString());
        if (open) {
            return open;
        }
        const provider = double.contentProviders.get(uri.scheme);
        if (!provider) {
            throw new Error(`no content provider for ${uri.toString()}`);
        }
        const text = await provider.provideTextDocumentContent(uri, new CancellationTokenSource().token);
        const doc = new TextDocumentDouble(uri, text);
        double.documents.push(doc);
        return doc;
    },
    createFileSystemWatcher() {
        return { onDidCreate: new EventEmitter().event, onDidChange: new EventEmitter().event, onDidDelete: new EventEmitter().event, dispose: () => undefined };
    },
};

/** Built-in commands the extension may run; recorded, and they do nothing. */
const BUILTIN_COMMANDS = new Set(['setContext', 'workbench.action.openSettings', 'ao.sessions.focus', 'workbench.view.extension.ao', 'vscode.diff']);

export const commands = {
    registerCommand(id: string, handler: (...args: any[]) => any): Disposable {
        if (double.commands.has(id)) {
            throw new Error(`command '${id}' already exists`); // what VS Code says (vscode-languageserver-node#333)
        }
        double.commands.set(id, handler);
        return new Disposable(() => double.commands.delete(id));
    },
    async executeCommand(id: string, ...args: any[]): Promise<any> {
        const handler = double.commands.get(id);
        if (handler) {
            return handler(...args);
        }
        if (BUILTIN_COMMANDS.has(id)) {
            double.builtinCommands.push({ id, args });
            double.poke();
            return undefined;
        }
        throw new Error(`command '${id}' not found`);
    },
    getCommands: async () => [...double.commands.keys()],
};

export const extensions = {
    getExtension(id: string) {
        if (!double.extensions.has(id)) {
            return undefined;
        }
        const exports = double.extensions.get(id);
        return { id, isActive: true, exports, activate: () => Promise.resolve(exports) };
    },
    all: [] as unknown[],
};

export const languages = {
    createDiagnosticCollection(name?: string) {
        return {
            name,
            set: () => undefined,
            delete: () => undefined,
            clear: () => undefined,
            forEach: () => undefined,
            get: () => undefined,
            has: () => false,
            dispose: () => undefined,
        };
    },
    match: () => 0,
};

export const env = {
    appName: 'Visual Studio Code (double)',
    language: 'en',
    machineId: 'double',
    sessionId: 'double',
    uiKind: 2,
    openExternal: async () => false,
};
