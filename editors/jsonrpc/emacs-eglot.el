;;; emacs-eglot.el --- Drive ao-server from Emacs: a jsonrpc.el connection, or eglot  -*- lexical-binding: t; -*-

;; Copy what you need into your init file, or `load' this file.
;;
;; Part 1 (recommended) talks to ao-server over its own `jsonrpc.el' connection
;; (built into Emacs 27+), so it works next to whatever language server eglot
;; runs for the buffer: M-x ao-start, ao-spawn, ao-status, ao-attach, ao-kill,
;; ao-resume, ao-logs, ao-stop.
;;
;; Part 2 is for eglot (Emacs 29+): ao-server as the eglot server of some major
;; modes, its commands called with workspace/executeCommand, its
;; ao/statusChanged notification handled.  Eglot runs one server per buffer, so
;; use it for modes that have no other language server.
;;
;; The protocol is docs/protocol.md in the ao-server repository.

(require 'cl-lib)
(require 'jsonrpc)
(require 'subr-x)
(require 'project)

;;;; Part 1: a jsonrpc.el connection

(defgroup ao nil "Run and watch OpenCode agents through ao-server." :group 'tools)

(defcustom ao-server-command '("ao-server")
  "Command (a list) that starts ao-server; e.g. (\"python3\" \"-m\" \"ao_server\")."
  :type '(repeat string))

(defcustom ao-poll-interval 1.0
  "Seconds between the server's status polls (initializationOptions.pollInterval)."
  :type 'number)

(defvar ao-status-changed-functions nil
  "Functions called with the params plist of every ao/statusChanged notification.")

(defvar ao--connection nil "The jsonrpc connection to ao-server, or nil.")
(defvar ao--process nil "The ao-server process, or nil.")

(defun ao--root ()
  "The workspace folder: the current project's root, else `default-directory'."
  (expand-file-name (or (when-let ((pr (and (fboundp 'project-root) (project-current))))
                          (project-root pr))
                        default-directory)))

(defun ao--report (params)
  "Say what an ao/statusChanged PARAMS means.
Then run `ao-status-changed-functions'."
  (let ((id (plist-get params :sessionId))
        (status (plist-get params :status))
        (previous (plist-get params :previous))
        (outcome (plist-get params :outcome)))
    (cond ((and (equal status "exited") (not (equal previous "exited")))
           (message "ao: %s exited (%s)%s" id
                    (or (plist-get outcome :result) (plist-get params :exitCode))
                    (if-let ((err (plist-get outcome :error))) (format ": %s" err) "")))
          ((and (equal status "running") (equal previous "exited"))
           (message "ao: %s resumed" id))
          ((and (equal status "running") (null previous))
           (message "ao: %s started" id))))
  (run-hook-with-args 'ao-status-changed-functions params))

(defun ao--on-notification (_conn method params)
  (when (eq method 'ao/statusChanged)
    (ao--report params)))

(defun ao--on-request (_conn _method _params)
  "Requests from the server (e.g. window/workDoneProgress/create): accept them."
  nil)

(defun ao-start (&optional root)
  "Start ao-server for ROOT (default: the current project) and initialize it."
  (interactive)
  (ao-stop)
  (let* ((default-directory (file-name-as-directory (or root (ao--root))))
         (proc (make-process :name "ao-server" :command ao-server-command
                             :connection-type 'pipe :coding 'utf-8-emacs-unix :noquery t
                             :stderr (get-buffer-create "*ao-server stderr*"))))
    (setq ao--process proc)
    (setq ao--connection
          (make-instance 'jsonrpc-process-connection :name "ao-server" :process proc
                         :notification-dispatcher #'ao--on-notification
                         :request-dispatcher #'ao--on-request))
    (jsonrpc-request ao--connection :initialize
                     (list :processId (emacs-pid)
                           :rootUri (concat "file://" (directory-file-name default-directory))
                           :capabilities (make-hash-table)
                           :initializationOptions (list :pollInterval ao-poll-interval)))
    (jsonrpc-notify ao--connection :initialized (make-hash-table))
    (message "ao: server started for %s" default-directory)
    ao--connection))

(defun ao-stop ()
  "Shut ao-server down.  The agents keep running."
  (interactive)
  (when (and ao--connection (jsonrpc-running-p ao--connection))
    (ignore-errors (jsonrpc-request ao--connection :shutdown nil :timeout 5))
    (ignore-errors (jsonrpc-notify ao--connection :exit nil))
    (with-timeout (3 (ignore-errors (jsonrpc-shutdown ao--connection)))
      (while (process-live-p ao--process)
        (accept-process-output ao--process 0.1))))
  (setq ao--connection nil ao--process nil))

(defun ao-request (method &optional params)
  "Send METHOD (a keyword, e.g. :ao/status) with PARAMS (a plist).
Return the result; an error response signals `jsonrpc-error'."
  (unless (and ao--connection (jsonrpc-running-p ao--connection))
    (ao-start))
  (jsonrpc-request ao--connection method (or params (make-hash-table))))

(defun ao--read-session (prompt)
  (completing-read prompt
                   (mapcar (lambda (s) (plist-get s :sessionId))
                           (plist-get (ao-request :ao/list) :sessions))))

(defun ao-spawn (prompt &optional project)
  "Spawn an OpenCode agent with PROMPT on PROJECT (default: the workspace's)."
  (interactive (list (read-string "Prompt: ")
                     (let ((p (read-string "Project (empty: the workspace's): ")))
                       (unless (string-empty-p p) p))))
  (let ((session (ao-request :ao/spawn (append (list :prompt prompt) (when project (list :project project))))))
    (message "ao: spawned %s" (plist-get session :sessionId))
    session))

(defun ao-status ()
  "Show every session in the *ao status* buffer."
  (interactive)
  (let ((sessions (append (plist-get (ao-request :ao/status) :sessions) nil)))
    (with-current-buffer (get-buffer-create "*ao status*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (dolist (s sessions)
          (insert (format "%-28s %-8s %-14s %s\n" (plist-get s :sessionId) (plist-get s :status)
                          (or (plist-get s :activity) "-")
                          (if-let ((cost (plist-get s :cost))) (format "$%.4f" (plist-get cost :usd)) "-")))))
      (special-mode)
      (display-buffer (current-buffer)))
    sessions))

(defun ao-attach (session)
  "Open a terminal attached to SESSION (the command from ao/attach)."
  (interactive (list (ao--read-session "Attach to: ")))
  (let* ((info (ao-request :ao/attach (list :sessionId session)))
         (argv (append (plist-get info :argv) nil)))
    (switch-to-buffer (apply #'make-term (format "ao %s" session) (car argv) nil (cdr argv)))))

(defun ao-kill (session)
  "Stop SESSION's agent."
  (interactive (list (ao--read-session "Kill: ")))
  (ao-request :ao/kill (list :sessionId session)))

(defun ao-resume (session &optional prompt)
  "Continue SESSION's OpenCode conversation, with an optional follow-up PROMPT."
  (interactive (list (ao--read-session "Resume: ") (read-string "Follow-up prompt (optional): ")))
  (ao-request :ao/resume (append (list :sessionId session)
                                 (unless (string-empty-p (or prompt "")) (list :prompt prompt)))))

(defun ao-logs (session)
  "Show SESSION's output."
  (interactive (list (ao--read-session "Logs of: ")))
  (let ((text (plist-get (ao-request :ao/logs (list :sessionId session)) :text)))
    (with-current-buffer (get-buffer-create (format "*ao logs %s*" session))
      (let ((inhibit-read-only t)) (erase-buffer) (insert text))
      (special-mode)
      (display-buffer (current-buffer)))))

;;;; Part 2: eglot (Emacs 29+)

(defvar eglot-server-programs)
(declare-function eglot-current-server "eglot")

(with-eval-after-load 'eglot
  ;; ao-server as the eglot server of modes that have no language server of their own.
  (add-to-list 'eglot-server-programs
               '((org-mode text-mode) . ("ao-server" :initializationOptions (:pollInterval 1.0))))

  ;; Exits and new sessions pushed by the server.
  (cl-defmethod eglot-handle-notification (_server (_method (eql ao/statusChanged)) &rest params)
    (ao--report params)))

(defun ao-eglot-command (command &optional params)
  "Run ao-server's COMMAND (e.g. \"ao/status\") with PARAMS through eglot.
The request is workspace/executeCommand with arguments [PARAMS]."
  (let ((server (or (and (fboundp 'eglot-current-server) (eglot-current-server))
                    (user-error "No eglot server here; M-x eglot in an org or text buffer first"))))
    (jsonrpc-request server :workspace/executeCommand
                     (list :command command :arguments (vector (or params (make-hash-table)))))))

;; Examples:
;;   (ao-eglot-command "ao/spawn" '(:prompt "Add unit tests for the auth module"))
;;   (ao-eglot-command "ao/status")
;;   (eglot-execute-command (eglot-current-server) "ao/status" [(:sessionId "my-project/agent-1")]) ; Emacs 29

(provide 'ao-eglot)
;;; emacs-eglot.el ends here
