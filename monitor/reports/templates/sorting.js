  // Sorting by a click on a column's header (its data-key): `sorted(key, sign)` re-orders
  // and redraws; the header says which way (aria-sort).
  const sortingHeaders = (table, sorted) => {
    const headers = [...table.tHead.rows[0].cells];
    for (const header of headers) {
      header.querySelector("button").addEventListener("click", () => {
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        for (const other of headers) other.removeAttribute("aria-sort");
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        sorted(Number(header.dataset.key), ascending ? 1 : -1);
      });
    }
  };
