// dmarc-web: progressive enhancement only (every page works without it). Loaded from /static, so
// the Content-Security-Policy needs no 'unsafe-inline'.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
    for (const select of document.querySelectorAll("select.autosubmit")) {
        select.addEventListener("change", () => {
            if (select.value !== "custom") select.form.submit();
        });
    }
    // Typing a date switches the period to "custom".
    for (const input of document.querySelectorAll("form.filters input[type=date]")) {
        input.addEventListener("change", () => {
            const period = input.form.querySelector("select[name=period]");
            if (period) period.value = "custom";
        });
    }
});
