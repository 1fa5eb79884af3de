// Developer portal: the copy button next to a secret shown once (CSP: script-src 'self').
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.addEventListener('click', async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById('copy-status');
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = 'Copied';
    } catch {
      field.select();
      if (status) status.textContent = 'Press Ctrl+C (⌘C) to copy';
    }
  });
}
